"""Rehearsals: every scenario in tests/scenarios through the real `callcrew simulate` command.

Also the command's contract around them: the built-in demo, readable failures (exit 1), refused
scenario files (exit 2, naming file and field), folders, `--report` and `--database-url`.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from callcrew.cli import app
from callcrew.settings import load_settings
from callcrew.simulate.runner import run_scenario
from callcrew.simulate.scenario import expand_paths, load_scenario
from callcrew.store import open_store

pytestmark = pytest.mark.rehearsal

SCENARIOS = Path(__file__).parent / "scenarios"
# The shipped rehearsals, without the business profile kept beside them (clinic_business.yaml).
SCENARIO_FILES = expand_paths([SCENARIOS])
DEMO = Path(__file__).resolve().parents[1] / "agents" / "data" / "demo_call.yaml"

runner = CliRunner()


def simulate(*args: object) -> Result:
    # A wide console: rich would otherwise wrap long lines (and paths) at 80 columns.
    return runner.invoke(app, ["simulate", *(str(a) for a in args)], env={"COLUMNS": "1000"})


def flat(text: str) -> str:
    """Rich wraps long lines at the console width; compare with whitespace collapsed."""
    return " ".join(text.split())


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# A small, valid booking call: the base that the failure tests below bend.
BOOKING = """\
    name: A caller books a haircut
    caller: "+15550142233"
    now: "2026-06-12T09:00:00"
    turns:
      - caller: "Hi, I'm Dana Whitfield, a haircut on Tuesday at half past nine please."
        agent:
          - tool: hand_off_to_desk
            args: {caller_name: Dana Whitfield, reason: haircut Tuesday 9:30}
          - tool: book_appointment
            args: {service: haircut, slot_id: "2026-06-16T09:30"}
          - say: "You're booked for Tuesday at half past nine."
            tool: wrap_up
          - say: "A haircut on Tuesday at 9:30. Anything else?"
      - caller: "No, bye."
        agent:
          - tool: end_call
    expect:
"""


def booking(tmp_path: Path, expect: str, name: str = "booking.yaml") -> Path:
    text = textwrap.dedent(BOOKING) + textwrap.indent(textwrap.dedent(expect), "  ")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the scenario library ----------------------------------------------------------------------


def test_the_library_covers_the_cases() -> None:
    assert len(SCENARIO_FILES) >= 10


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_scenario_passes(path: Path) -> None:
    result = simulate(path, "-q")
    assert result.exit_code == 0, result.output
    assert f"PASS {path.stem}" in result.output


def test_the_built_in_demo_passes() -> None:
    result = simulate()
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "PASS demo_call" in out
    # Not quiet: the transcript, the tool calls, the hand-offs and the summary are printed.
    assert "Thanks for calling Maple Street Salon" in out
    assert "-> book_appointment(" in out
    assert "=> hand-off intro -> appointments" in out
    assert "outcome booked | agents intro -> appointments -> wrapup" in out


def test_a_folder_runs_every_scenario_in_it(tmp_path: Path) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    for name in ("new_booking_web.yaml", "cancel_appointment.yaml", "survey_known_customer.yaml"):
        (folder / name).write_text((SCENARIOS / name).read_text())
    (folder / "notes.txt").write_text("not a scenario")
    result = simulate(folder, "-q")
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "PASS cancel_appointment" in out
    assert "PASS new_booking_web" in out
    assert "PASS survey_known_customer" in out
    assert "3 passed, 0 failed" in out
    # Sorted by file name.
    assert out.index("cancel_appointment") < out.index("new_booking_web")


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    result = simulate(tmp_path)
    assert result.exit_code == 2
    assert "folder holds no scenario files" in flat(result.output)


# --- failing expectations: exit 1 and one readable line each -----------------------------------


def test_a_wrong_outcome_fails_with_a_diff_line(tmp_path: Path) -> None:
    path = booking(tmp_path, "outcome: cancelled\n")
    result = simulate(path, "-q")
    assert result.exit_code == 1, result.output
    out = flat(result.output)
    assert "FAIL booking" in out
    assert "- outcome: expected 'cancelled', got 'booked'" in out


def test_every_wrong_expectation_is_reported(tmp_path: Path) -> None:
    path = booking(
        tmp_path,
        """\
        final_agent: appointments
        hung_up: false
        agents_visited: [intro, wrapup]
        tools_called: [end_call, book_appointment]
        tools_not_called: [wrap_up]
        tool_errors: ["was just taken"]
        agent_said: ["see you on Wednesday"]
        appointments:
          - {customer: "+15550142233", service: color, start: "2026-06-16T10:00"}
        customers: 2
        """,
    )
    result = simulate(path, "-q")
    assert result.exit_code == 1, result.output
    out = flat(result.output)
    for line in (
        "final agent: expected 'appointments', got 'wrapup'",
        "hung up: expected False, got True",
        "agents visited: expected ['intro', 'wrapup'], got ['intro', 'appointments', 'wrapup']",
        "tools called: expected ['end_call', 'book_appointment'] in this order",
        "tools called: 'wrap_up' must not be called, but it was",
        "tool errors: none contains 'was just taken'",
        "agent said: 'see you on Wednesday' never said",
        "appointments: expected ['2026-06-16T10:00 booked'], "
        "store holds ['2026-06-16T09:30 booked']",
        "customers in the store: expected 2, got 1",
    ):
        assert line in out, line


def test_a_wrong_service_or_customer_on_the_right_slot_is_reported(tmp_path: Path) -> None:
    path = booking(
        tmp_path,
        """\
        appointments:
          - {customer: Someone Else, service: color, start: "2026-06-16T09:30"}
        """,
    )
    result = simulate(path, "-q")
    assert result.exit_code == 1, result.output
    out = flat(result.output)
    assert "appointment at 2026-06-16T09:30: service 'haircut', expected 'color'" in out
    assert "customer 'Dana Whitfield', expected 'Someone Else'" in out


def test_one_failing_scenario_among_passing_ones_fails_the_run(tmp_path: Path) -> None:
    good = booking(tmp_path, "outcome: booked\n", name="a_good.yaml")
    bad = booking(tmp_path, "outcome: transferred\n", name="b_bad.yaml")
    result = simulate(good, bad, "-q")
    assert result.exit_code == 1
    out = flat(result.output)
    assert "PASS a_good" in out
    assert "FAIL b_bad" in out
    assert "1 passed, 1 failed" in out


def test_a_tool_the_current_agent_lacks_fails_with_that_message(tmp_path: Path) -> None:
    # The receptionist cannot book: only the desk has book_appointment.
    path = write(
        tmp_path,
        "eager_intro.yaml",
        """\
        name: The intro tries to book by itself
        caller: "+15550142233"
        now: "2026-06-12T09:00:00"
        turns:
          - caller: "I'm Dana, book me a haircut Tuesday at nine."
            agent:
              - tool: book_appointment
                args: {service: haircut, slot_id: "2026-06-16T09:00"}
              - say: "Done."
        """,
    )
    result = simulate(path, "-q")
    assert result.exit_code == 1, result.output
    out = flat(result.output)
    assert (
        "caller line 1: scripted tool call 'book_appointment' is not a tool of the current "
        "agent (it has: end_conversation, hand_off_to_desk, request_human, take_message)"
    ) in out


def test_a_script_that_runs_short_or_long_fails_with_where(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "off_script.yaml",
        """\
        name: The script does not match the crew's path
        caller: "+15550142233"
        now: "2026-06-12T09:00:00"
        turns:
          - caller: "Hi, I'm Dana, a haircut please."
            agent:
              - tool: hand_off_to_desk
                args: {caller_name: Dana, reason: a haircut}
          - caller: "Hello?"
            agent:
              - say: "Yes, sorry. Which day?"
              - say: "This one is never asked for."
        """,
    )
    result = simulate(path, "-q")
    assert result.exit_code == 1, result.output
    out = flat(result.output)
    # The desk's on_enter asked for a reply the script did not have...
    assert "caller line 1: the agent asked the model for another response but the script" in out
    assert "tools offered: book_appointment" in out
    # ...and a reply the crew never asked for is reported too.
    assert "caller line 2: 1 scripted agent response(s) were never used" in out
    assert "first unused: 'This one is never asked for.'" in out


def test_caller_lines_after_the_call_ended_are_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "after_hangup.yaml",
        """\
        name: The caller keeps talking after the goodbye
        caller: "+15550142233"
        now: "2026-06-12T09:00:00"
        turns:
          - caller: "Sorry, wrong number."
            agent:
              - tool: end_conversation
              - say: "No problem. Anything else?"
          - caller: "No."
            agent:
              - tool: end_call
          - caller: "Hello? Are you still there?"
        expect:
          outcome: completed
          hung_up: true
        """,
    )
    result = simulate(path, "-q")
    assert result.exit_code == 1, result.output
    assert "caller line 3 ('Hello? Are you still there?') was never heard" in flat(result.output)


# --- refused scenario files: exit 2, naming the file and the field -----------------------------


MALFORMED = {
    "not_yaml": ("name: [unclosed\nturns: {", ["not valid YAML at line"]),
    "not_a_mapping": ("- just\n- a list\n", ["a scenario must be a YAML mapping"]),
    "missing_turns": (
        'name: x\ncaller: "+15550142233"\nnow: "2026-06-12T09:00:00"\n',
        ["needs 'turns' (scripted caller lines) or 'instructions'"],
    ),
    "empty_turns": (
        'name: x\ncaller: "+15550142233"\nnow: "2026-06-12T09:00:00"\nturns: []\n',
        ["turns: List should have at least 1 item"],
    ),
    "bad_phone": (
        'name: x\ncaller: "555-0142"\nnow: "2026-06-12T09:00:00"\nturns: [{caller: hi}]\n',
        ["caller: '555-0142' is not an E.164 number"],
    ),
    "unknown_key": (
        'name: x\ncaller: "+15550142233"\nnow: "2026-06-12T09:00:00"\ncolour: blue\n'
        "turns: [{caller: hi}]\n",
        ["colour: Extra inputs are not permitted"],
    ),
    "args_without_tool": (
        'name: x\ncaller: "+15550142233"\nnow: "2026-06-12T09:00:00"\n'
        "turns: [{caller: hi, agent: [{say: hello, args: {service: haircut}}]}]\n",
        ["turns.0.agent.0: 'args' needs 'tool'"],
    ),
    "empty_step": (
        'name: x\ncaller: "+15550142233"\nnow: "2026-06-12T09:00:00"\n'
        "turns: [{caller: hi, agent: [{}]}]\n",
        ["turns.0.agent.0: a step needs 'say'"],
    ),
    "phone_call_without_caller": (
        'name: x\nnow: "2026-06-12T09:00:00"\nturns: [{caller: hi}]\n',
        ["a inbound call needs 'caller'"],
    ),
    "bad_now": (
        'name: x\ncaller: "+15550142233"\nnow: next tuesday\nturns: [{caller: hi}]\n',
        ["now: Input should be a valid datetime"],
    ),
    "unknown_seed_customer": (
        'name: x\ncaller: "+15550142233"\nnow: "2026-06-12T09:00:00"\nturns: [{caller: hi}]\n'
        "data: {appointments: [{customer: Nobody, service: haircut, "
        'start: "2026-06-16T09:00"}]}\n',
        ["data: appointments: unknown customer 'Nobody'"],
    ),
    "bad_expected_status": (
        'name: x\ncaller: "+15550142233"\nnow: "2026-06-12T09:00:00"\nturns: [{caller: hi}]\n'
        'expect: {appointments: [{start: "2026-06-16T09:00", status: maybe}]}\n',
        ["expect.appointments.0.status: Input should be 'booked' or 'cancelled'"],
    ),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_a_malformed_scenario_exits_2_naming_file_and_field(tmp_path: Path, kind: str) -> None:
    text, fragments = MALFORMED[kind]
    path = tmp_path / f"{kind}.yaml"
    path.write_text(text, encoding="utf-8")
    result = simulate(path, "-q")
    assert result.exit_code == 2, result.output
    out = flat(result.stderr)
    assert str(path) in out
    for fragment in fragments:
        assert fragment in out


def test_a_malformed_file_stops_the_run_before_anything_plays(tmp_path: Path) -> None:
    good = booking(tmp_path, "outcome: booked\n", name="a_good.yaml")
    bad = write(tmp_path, "b_bad.yaml", "name: x\n")
    result = simulate(good, bad, "-q")
    assert result.exit_code == 2
    assert "PASS" not in result.output
    assert "b_bad.yaml" in flat(result.stderr)


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = simulate(tmp_path / "nowhere.yaml")
    assert result.exit_code == 2
    assert "nowhere.yaml: scenario file not found" in flat(result.stderr)


def test_an_unknown_seeded_service_exits_2_naming_the_scenario(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "seed_service.yaml",
        """\
        name: x
        caller: "+15550142233"
        now: "2026-06-12T09:00:00"
        data:
          customers: [{name: Ann}]
          appointments: [{customer: Ann, service: massage, start: "2026-06-16T09:00"}]
        turns: [{caller: hi}]
        """,
    )
    result = simulate(path, "-q")
    assert result.exit_code == 2, result.output
    assert "seed_service: data.appointments: unknown service 'massage'" in flat(result.stderr)


# --- the call report -----------------------------------------------------------------------------


def test_report_json_holds_the_call_report(tmp_path: Path) -> None:
    out_file = tmp_path / "out.json"
    result = simulate(SCENARIOS / "new_booking_web.yaml", "-q", "--report", out_file)
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(out_file.read_text())
    assert report["channel"] == "web"
    assert report["caller_number"] is None
    assert report["outcome"] == "booked"
    assert report["ended_by"] == "agent"
    assert report["agents_visited"] == ["intro", "appointments", "wrapup"]
    assert report["stack"].endswith("+replay")
    assert report["rehearsal"] == {
        "scenario": "new_booking_web",
        "clock": "2026-06-12T15:15:00+00:00",
        "hung_up": "completed",
        "transferred_to": None,
        "warm_transfer": False,
    }
    # The business clock is frozen at the scenario's `now` (11:15 EDT); the report's own times
    # are real, like a live call's.
    assert report["started_at"] <= report["ended_at"]

    transcript = report["transcript"]
    roles = [t["role"] for t in transcript]
    assert roles[0] == "handoff"  # the session starting the intro
    assert roles[1] == "agent"  # the greeting, before the caller speaks
    assert transcript[1]["text"].startswith("Hello, thanks for calling Maple Street Salon")
    assert {"caller", "agent", "tool_call", "tool_result", "handoff"} <= set(roles)
    said_by_caller = [t["text"] for t in transcript if t["role"] == "caller"]
    assert said_by_caller[0] == "Hello! I'd like to get my hair coloured sometime next week."
    assert len(said_by_caller) == 5
    calls = [t["name"] for t in transcript if t["role"] == "tool_call"]
    assert calls == [
        "hand_off_to_desk",
        "find_free_slots",
        "book_appointment",
        "wrap_up",
        "end_call",
    ]
    agent_lines = [t["text"] for t in transcript if t["role"] == "agent"]
    assert agent_lines[-1] == "Thanks for calling Maple Street Salon. Have a lovely day. Goodbye!"

    turns = report["turns"]
    assert turns[0]["first"] is True
    assert all(set(t) >= {"e2e_latency", "llm_node_ttft", "tts_node_ttfb"} for t in turns)

    llm_rows = [u for u in report["usage"] if u["kind"] == "llm"]
    assert len(llm_rows) == 1
    assert llm_rows[0]["provider"] == "callcrew"
    assert llm_rows[0]["model"] == "replay"
    assert llm_rows[0]["input_tokens"] > 0
    assert llm_rows[0]["output_tokens"] > 0

    crew = report["crew"]
    assert crew["customer_name"] == "Priya Raman"
    assert crew["changes"] == ["booked a hair colouring on Wednesday June 17 at 9:30 am"]
    assert crew["appointment_ids"] == [1]


def test_report_json_for_several_scenarios_is_a_list(tmp_path: Path) -> None:
    out_file = tmp_path / "out.json"
    result = simulate(
        SCENARIOS / "human_transfer_phone.yaml",
        SCENARIOS / "human_web_message.yaml",
        "-q",
        "--report",
        out_file,
    )
    assert result.exit_code == 0, result.output
    reports = json.loads(out_file.read_text())
    assert [r["channel"] for r in reports] == ["inbound", "web"]
    assert [r["outcome"] for r in reports] == ["transferred", "message_taken"]
    assert reports[0]["ended_by"] == "transfer"
    assert reports[0]["caller_number"] == "+15550111009"
    assert reports[0]["rehearsal"]["transferred_to"] == "+15550100199"
    assert reports[1]["crew"]["message_for_staff"].startswith("Omar Haddad would like")


def test_a_failing_rehearsal_still_writes_its_report(tmp_path: Path) -> None:
    out_file = tmp_path / "out.json"
    path = booking(tmp_path, "outcome: cancelled\n")
    result = simulate(path, "-q", "--report", out_file)
    assert result.exit_code == 1
    assert json.loads(out_file.read_text())["outcome"] == "booked"


def test_the_report_is_saved_in_the_given_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rehearsals.db'}"
    out_file = tmp_path / "out.json"
    result = simulate(
        SCENARIOS / "reschedule_known_caller.yaml",
        "-q",
        "--database-url",
        url,
        "--report",
        out_file,
    )
    assert result.exit_code == 0, result.output
    written = json.loads(out_file.read_text())
    with open_store(url) as store:
        saved = store.reports.get(written["call_id"])
        assert saved == written
        listed = store.reports.list()
        assert [r["call_id"] for r in listed] == [written["call_id"]]
        assert store.reports.list(outcome="rescheduled")[0]["call_id"] == written["call_id"]
        assert store.reports.list(outcome="booked") == []
        assert store.reports.list(channel="inbound")[0]["channel"] == "inbound"
        # Only reports go there: each scenario's seeded data stays in its own throwaway store.
        assert store.crew_data.customers.all() == []
        assert store.crew_data.appointments.all() == []


def test_a_folder_of_scenarios_shares_one_report_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rehearsals.db'}"
    result = simulate(SCENARIOS, "-q", "--database-url", url)
    assert result.exit_code == 0, result.output
    with open_store(url) as store:
        calls = [len(getattr(load_scenario(p), "calls", [None])) for p in SCENARIO_FILES]
        assert len(store.reports.list(limit=1000)) == sum(calls)  # one report per call


def test_without_database_url_nothing_is_kept(tmp_path: Path) -> None:
    result = simulate(SCENARIOS / "new_booking_web.yaml", "-q")
    assert result.exit_code == 0, result.output
    # The autouse fixture runs each test in its own tmp_path: no var/callcrew.db appears.
    assert not any(tmp_path.rglob("*.db"))


async def test_the_dst_rehearsal_stores_wall_clock_ten_in_standard_time() -> None:
    result = await run_scenario(load_scenario(SCENARIOS / "dst_reschedule.yaml"), load_settings())
    assert result.passed, result.failures
    (appt,) = result.snapshot["appointments"]  # the crew's records at the end
    # Saturday's 10:00 was EDT (14:00 UTC); Tuesday's 10:00 is EST (15:00 UTC), 30 minutes long.
    assert appt["start"].isoformat() == "2026-11-03T15:00:00+00:00"
    assert appt["end"].isoformat() == "2026-11-03T15:30:00+00:00"


def test_transcript_times_lie_within_the_call(tmp_path: Path) -> None:
    out_file = tmp_path / "out.json"
    result = simulate(SCENARIOS / "cancel_appointment.yaml", "-q", "--report", out_file)
    assert result.exit_code == 0, result.output
    report = json.loads(out_file.read_text())
    times = [t["time"] for t in report["transcript"] if t.get("time")]
    assert times
    assert all(report["started_at"] <= t <= report["ended_at"] for t in times), (
        report["started_at"],
        times[0],
        report["ended_at"],
    )


def test_expected_booking_checks_only_this_calls_booking(tmp_path: Path) -> None:
    # frontdesk semantics: seeded appointments don't count, the call's own booking does.
    text = (SCENARIOS / "frontdesk_closed_monday.yaml").read_text()
    wrong = tmp_path / "wrong_booking.yaml"
    wrong.write_text(
        text.replace(
            'expected_booking: "2026-06-16T09:00:00"', 'expected_booking: "2026-06-16T10:00:00"'
        )
    )
    result = simulate(wrong, "-q")
    assert result.exit_code == 1
    assert "booked on this call: expected ['2026-06-16T10:00'], got ['2026-06-16T09:00']" in (
        result.output
    )


def test_a_scripted_argument_the_tool_does_not_take_fails_the_rehearsal(tmp_path: Path) -> None:
    text = DEMO.read_text().replace("{service: haircut, day:", "{service: haircut, dya:")
    typo = tmp_path / "typo.yaml"
    typo.write_text(text)
    result = simulate(typo, "-q")
    assert result.exit_code == 1
    assert (
        "find_free_slots() has no argument(s) dya (it takes: day, part_of_day, service, time)"
        in (result.output)
    )


async def test_warm_transfer_scenario_briefs_a_colleague_instead_of_the_hold_phrase() -> None:
    scenario = load_scenario(SCENARIOS / "human_warm_transfer.yaml")
    result = await run_scenario(scenario, load_settings())
    assert result.passed, result.failures
    assert result.report["rehearsal"]["warm_transfer"] is True
    said = " ".join(t["text"] for t in result.report["transcript"] if t["role"] == "agent")
    assert "putting you through" not in said
    assert result.report["crew"]["changes"] == [
        "put through to a colleague, who was briefed (complaint about a colouring)"
    ]


# --- several calls on one store, turn checks, branches, folders --------------------------------


def test_a_calls_file_prints_each_call_and_checks_the_shared_store(tmp_path: Path) -> None:
    result = simulate(SCENARIOS / "race_for_the_last_slot.yaml")
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "call 1" in out and "call 2" in out
    # Exactly one of the two callers met the race's loser path.
    assert out.count("was just taken by someone else") == 1
    assert "PASS race_for_the_last_slot" in out


def test_a_calls_file_reports_every_call_and_fails_on_the_shared_store(tmp_path: Path) -> None:
    text = (SCENARIOS / "book_today_cancel_tomorrow.yaml").read_text()
    text = text.replace("status: cancelled}", "status: booked}")
    path = write(tmp_path, "callback.yaml", text)
    report = tmp_path / "reports.json"
    result = simulate(path, "-q", "--report", report)
    assert result.exit_code == 1, result.output
    out = flat(result.output)
    assert (
        "- the shared store at the end: appointments: expected ['2026-06-16T10:00 booked'], "
        "store holds ['2026-06-16T10:00 cancelled']"
    ) in out
    reports = json.loads(report.read_text())
    assert [r["outcome"] for r in reports] == ["booked", "cancelled"]
    assert reports[0]["call_id"] != reports[1]["call_id"]


def test_a_failed_turn_expectation_names_the_line(tmp_path: Path) -> None:
    text = textwrap.dedent(BOOKING).replace(
        '      - say: "A haircut on Tuesday at 9:30. Anything else?"\n',
        '      - say: "A haircut on Tuesday at 9:30. Anything else?"\n'
        "    expect:\n"
        "      tools_called: {book_appointment: 2}\n"
        '      appointments: [{start: "2026-06-16T10:00"}]\n',
    )
    path = write(tmp_path, "turn.yaml", text + "  outcome: booked\n")
    result = simulate(path, "-q")
    assert result.exit_code == 1, result.output
    out = flat(result.output)
    assert "after caller line 1: tools called: 'book_appointment' 2 time(s), got 1" in out
    assert (
        "after caller line 1: appointments: expected ['2026-06-16T10:00 booked'], "
        "store holds ['2026-06-16T09:30 booked']"
    ) in out


def test_a_folder_with_a_business_profile_beside_the_scenarios_runs(tmp_path: Path) -> None:
    for name in ("clinic_business.yaml", "clinic_profile_file.yaml"):
        (tmp_path / name).write_text((SCENARIOS / name).read_text())
    result = simulate(tmp_path, "-q")
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "skipped" in out and "clinic_business.yaml: not a scenario" in out
    assert "PASS clinic_profile_file" in out


def test_a_calls_file_refuses_audio(tmp_path: Path) -> None:
    result = simulate(SCENARIOS / "race_for_the_last_slot.yaml", "--audio")
    assert result.exit_code == 2
    assert "a calls: scenario is rehearsed in text only; drop --audio" in flat(result.stderr)


async def test_expect_store_matches_the_crews_snapshot_by_subset(tmp_path: Path) -> None:
    text = DEMO.read_text().replace(
        "  customers: 1\n",
        "  customers: 1\n"
        "  store:\n"
        "    customers: [{name: Dana Whitfield}]\n"
        "    appointments: [{service: haircut, start: '2026-06-16T09:30', status: booked}]\n"
        "  crew: {customer_name: Dana Whitfield}\n",
    )
    good = tmp_path / "good.yaml"
    good.write_text(text)
    result = await run_scenario(load_scenario(good), load_settings())
    assert result.passed, result.failures
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("start: '2026-06-16T09:30'", "start: '2026-06-16T10:00'"))
    result = await run_scenario(load_scenario(bad), load_settings())
    assert not result.passed
    assert any(f.startswith("store.appointments[0]: no item matches") for f in result.failures)


def test_simulate_without_files_plays_the_crews_demo_or_says_it_has_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CREW", "tests.test_crewkit:PIZZERIA")
    result = simulate()
    assert result.exit_code == 2
    assert "crew 'pizzeria' has no demo call; name scenario files" in result.output
