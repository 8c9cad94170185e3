"""`simulate --caller-llm --judge`: frontdesk-shaped scenarios with no `turns`, played through
the real CLI, crew, tools and store against a local OpenAI-compatible stub that plays the
caller, the crew's model and the judge by rules decided from each request.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from callcrew.cli import app
from tests.scripted_llm_stub import ScriptedLLM, serve_in_thread

pytestmark = pytest.mark.rehearsal

SUITE = Path(__file__).parent / "scenarios" / "frontdesk" / "frontdesk_scenarios.yaml"
runner = CliRunner()


def simulate(stub: ScriptedLLM, *args: object) -> Result:
    env = {
        "COLUMNS": "1000",
        "LLM": "openai/gpt-4.1-mini",
        "LLM_BASE_URL": stub.url,
        "OPENAI_API_KEY": "test-key",
        "CALLER_LLM_BASE_URL": stub.url,
        "JUDGE_LLM_BASE_URL": stub.url,
    }
    return runner.invoke(app, ["simulate", *(str(a) for a in args)], env=env)


def reports(path: Path) -> dict[str, dict[str, Any]]:
    data = json.loads(path.read_text())
    return {r["rehearsal"]["scenario"]: r for r in (data if isinstance(data, list) else [data])}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenarios.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_the_frontdesk_suite_runs_with_an_llm_caller_and_judges(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    with serve_in_thread(ScriptedLLM()) as stub:
        result = simulate(stub, SUITE, "--caller-llm", "--judge", "--report", out)
    # The rule-played caller cannot change its mind, so "Changes their mind" books the first
    # choice: expected_booking catches it and the run fails.
    assert result.exit_code == 1, result.output
    got = reports(out)
    assert len(got) == 10

    # Opens with one date: July 16 looked up, the 1 pm slot booked, as expected_booking says.
    date = got["frontdesk_scenarios[1]"]
    assert date["outcome"] == "booked"
    assert date["rehearsal"]["caller_llm"]["ended"].startswith("the caller hung up")
    tools = [t for t in date["transcript"] if t["role"] == "tool_call"]
    assert {"name": "find_free_slots", "day": "2026-07-16"}.items() <= (
        {"name": tools[1]["name"], **json.loads(tools[1]["arguments"])}.items()
    )
    assert json.loads(tools[2]["arguments"])["slot_id"] == "2026-07-16T13:00"
    verdicts = {v["name"]: v for v in date["judges"]["verdicts"]}
    assert set(verdicts) == {
        "expectations",
        "task_completion",
        "no_invented_slots",
        "handoff",
        "politeness",
    }
    assert all(v["verdict"] == "pass" and v["reasoning"] for v in verdicts.values())
    usage = {u["role"]: u for u in date["evaluation"]["usage"]}
    assert usage["caller"]["requests"] == 3 and usage["judge"]["requests"] == 5
    assert date["evaluation"]["usd"] > 0 and date["evaluation"]["priced"]

    # Refuses every alternative: nothing booked (expected_booking null), judged as expected.
    stubborn = got["frontdesk_scenarios[3]"]
    assert stubborn["outcome"] != "booked"
    expect_verdict = next(v for v in stubborn["judges"]["verdicts"] if v["name"] == "expectations")
    assert expect_verdict["verdict"] == "pass"

    # Fully booked: available_slots [] held every time, so the real tool found none.
    empty = got["frontdesk_scenarios[4]"]
    outputs = [t["output"] for t in empty["transcript"] if t["role"] == "tool_result"]
    assert any(o.startswith("Nothing free") for o in outputs)

    text = " ".join(result.output.split())
    assert "FAIL frontdesk_scenarios[6]" in text
    assert "booked on this call: expected ['2026-06-18T14:30'], got ['2026-06-17T11:00']" in text
    assert "pass no_invented_slots: every time the agent named came from a tool output" in text

    # What the caller's model was sent: its persona, and the desk's greeting as what it heard.
    ken = next(b for b in stub.of("caller") if "Ken Watanabe" in b["messages"][0]["content"])
    assert "Pick the 1 PM slot on July 16" in ken["messages"][0]["content"]
    assert ken["messages"][1]["content"].startswith("Hello, thanks for calling Maple Street")
    assert {t["function"]["name"] for t in ken["tools"]} == {"end_call"}
    assert ken["model"] == "gpt-4.1-mini"


def test_tags_select_scenarios(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    with serve_in_thread(ScriptedLLM()) as stub:
        result = simulate(stub, SUITE, "--caller-llm", "--tag", "tool_state", "--report", out)
    assert result.exit_code == 0, result.output
    assert list(reports(out)) == ["frontdesk_scenarios[5]"]
    # No --judge: no judge requests at all, and the expectations are said to be unjudged.
    assert stub.of("judge") == []
    assert "agent_expectations not judged (add --judge)" in result.output


def test_an_unknown_tag_exits_2(tmp_path: Path) -> None:
    with serve_in_thread(ScriptedLLM()) as stub:
        result = simulate(stub, SUITE, "--caller-llm", "--tag", "feature=nope")
    assert result.exit_code == 2
    assert "no scenario has the tag(s) feature=nope" in result.output


def test_a_caller_who_never_gets_anywhere_hits_the_turn_limit(tmp_path: Path) -> None:
    # No "You are First Last" persona: the stub caller cannot say who it is, so the desk keeps
    # asking for a name and the call never ends by itself.
    path = write(
        tmp_path,
        """\
        scenarios:
          - label: Lost caller
            instructions: Someone who will not say who they are.
        """,
    )
    with serve_in_thread(ScriptedLLM()) as stub:
        result = simulate(stub, path, "--caller-llm", "--max-turns", "3", "-q")
    assert result.exit_code == 1, result.output
    assert "the call had not ended after 3 caller lines (CALLER_MAX_TURNS)" in result.output
    assert len(stub.of("caller")) == 3


def test_judges_grade_a_scripted_call_and_report_only_never_fails(tmp_path: Path) -> None:
    # A replayed agent that offers a time no tool returned: no_invented_slots must catch it.
    path = write(
        tmp_path,
        """\
        name: Invents a time
        caller: "+15550142233"
        judges: [no_invented_slots, politeness, transfer]
        turns:
          - caller: "Hi, I'm Dana Whitfield, a haircut on Tuesday please."
            agent:
              - tool: hand_off_to_desk
                args: {caller_name: Dana Whitfield, reason: haircut Tuesday}
              - say: "Sure, I can do 9:15 am on Tuesday."
        """,
    )
    with serve_in_thread(ScriptedLLM()) as stub:
        judged = simulate(stub, path, "--judge", "--report", tmp_path / "r.json")
        db = f"sqlite:///{tmp_path / 'rehearsals.db'}"
        only = simulate(
            stub, path, "--judge-report-only", "--report", tmp_path / "o.json", "--database-url", db
        )
    assert judged.exit_code == 1, judged.output
    text = " ".join(judged.output.split())
    assert "judge no_invented_slots: fail: the agent offered 9:15am, no tool listed it" in text
    assert only.exit_code == 0, only.output
    report = json.loads((tmp_path / "o.json").read_text())
    assert report["judges"]["report_only"] is True
    assert [v["verdict"] for v in report["judges"]["verdicts"]] == ["fail", "pass", "pass"]
    # The judge was sent the call itself: the caller's words and the agent's invented time.
    sent = stub.of("judge")[0]["messages"][-1]["content"]
    assert "Dana Whitfield" in sent and "9:15 am" in sent
    # The verdicts are stored with the rehearsal's report, and `calls show` prints them.
    shown = runner.invoke(
        app, ["calls", "show", report["call_id"], "--database-url", db], env={"COLUMNS": "1000"}
    )
    assert shown.exit_code == 0, shown.output
    assert "fail no_invented_slots: the agent offered 9:15am, no tool listed it" in " ".join(
        shown.output.split()
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no 'turns'; the caller is described by 'instructions', so run with --caller-llm"),
        (
            ["--caller-llm", "--audio"],
            "--audio --caller-llm needs a replay script (turns with 'agent:' steps)",
        ),
    ],
)
def test_what_cannot_run_exits_2(args: list[str], message: str) -> None:
    with serve_in_thread(ScriptedLLM()) as stub:
        result = simulate(stub, SUITE, *args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert stub.requests == []


def test_no_caller_endpoint_or_key_exits_2() -> None:
    result = runner.invoke(app, ["simulate", str(SUITE), "--caller-llm", "--judge"])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "CALLER_LLM_BASE_URL (an OpenAI-compatible endpoint) or CALLER_LLM_API_KEY" in text
    assert "JUDGE_LLM_BASE_URL" in text


def test_a_scripted_crew_answers_an_llm_caller_without_the_crews_llm(tmp_path: Path) -> None:
    # The scenario scripts the crew (replay) and describes the caller: only the caller's lines
    # come from the LLM, so no LLM_BASE_URL or key for the crew is needed.
    path = write(
        tmp_path,
        """\
        name: Replayed desk, LLM caller
        caller: "+15550142233"
        instructions: You are Dana Whitfield. Book a haircut, take the first time offered.
        turns:
          - caller: (played by the caller LLM)
            agent:
              - tool: hand_off_to_desk
                args: {caller_name: Dana Whitfield, reason: a haircut}
              - tool: find_free_slots
                args: {service: haircut, day: "2026-06-16"}
              - say: "On Tuesday I have 9 am or 9:30 am."
          - caller: (played by the caller LLM)
            agent:
              - tool: book_appointment
                args: {service: haircut, slot_id: "2026-06-16T09:00"}
              - say: "Booked."
                tool: wrap_up
              - say: "A haircut on Tuesday at 9. Anything else?"
          - caller: (played by the caller LLM)
            agent:
              - tool: end_call
        expect:
          outcome: booked
          hung_up: true
          booked_on_call: ["2026-06-16T09:00"]
        """,
    )
    cli_env = {"COLUMNS": "1000"}
    with serve_in_thread(ScriptedLLM()) as stub:
        cli_env["CALLER_LLM_BASE_URL"] = stub.url
        cli_env["CALLER_LLM_API_KEY"] = "test-key"
        result = runner.invoke(app, ["simulate", str(path), "--caller-llm"], env=cli_env)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "caller The first one, please." in text
    assert "PASS scenarios" in text
    assert stub.of("desk") == []  # the crew was the replay model
    assert len(stub.of("caller")) == 3
