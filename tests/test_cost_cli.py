"""`callcrew cost`: the JSON contract, the table, and how bad input is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from callcrew.cli import app
from callcrew.metrics.planner import PlanInputs, plan
from callcrew.metrics.pricing import load_catalog

pytestmark = pytest.mark.unit

# A PRICES_FILE in the developer's shell must not change what the defaults print.
runner = CliRunner(env={"PRICES_FILE": None, "VCPU_HOUR_USD": None})


def seed_fixture() -> dict[str, Any]:
    # The repository's copy of the seed's cost model (never read from outside the repo).
    path = Path(__file__).parent / "fixtures" / "seed_costs.json"
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


PUBLISHED = seed_fixture()["published"]


def run_json(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = runner.invoke(app, ["cost", *args, "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout  # exactly one JSON object, nothing else
    out: dict[str, Any] = json.loads(lines[0])
    return out


@pytest.mark.parametrize("stack", ["economy", "premium"])
@pytest.mark.parametrize("prices", [None, "seed-2025-05"])
def test_defaults_reproduce_the_published_figures(stack: str, prices: str | None) -> None:
    args = ["--stack", stack] + (["--prices", prices] if prices else [])
    out = run_json(*args)
    published = PUBLISHED[stack]
    assert out["stack"] == stack
    assert out["calls"] == PUBLISHED["calls"]
    assert out["minutes"] == PUBLISHED["minutes"]
    assert out["components"] == published["components"]
    assert out["total_usd"] == published["total"]
    assert round(out["per_call_usd"], 2) == round(published["per_call"], 2)
    assert abs(out["per_call_usd"] - published["per_call"]) <= 0.0001
    assert out["per_hour_usd"] == published["per_hour"]


@pytest.mark.parametrize("stack", ["economy", "premium"])
def test_forty_percent_discount(stack: str) -> None:
    out = run_json("--stack", stack, "--discount", "0.4")
    published = PUBLISHED["with_40pct_discount"]
    assert out["total_usd"] == published[f"{stack}_total"]
    assert round(out["per_call_usd"], 3) == published[f"{stack}_per_call"]
    assert out["per_hour_usd"] == published[f"{stack}_per_hour"]
    assert out["components"] == PUBLISHED[stack]["components"]  # list prices


def test_every_option_reaches_the_planner() -> None:
    out = run_json(
        "--stack", "premium",
        "--agents", "3",
        "--calls-per-day", "40",
        "--days", "20",
        "--call-minutes", "4.5",
        "--agent-talk-share", "0.6",
        "--turns", "9",
        "--system-prompt-tokens", "1500",
        "--input-tokens", "2000",
        "--output-tokens", "400",
        "--calls-per-hour", "12",
        "--discount", "0.25",
        "--prices", "seed-2025-05",
    )  # fmt: skip
    expected = plan(
        PlanInputs(
            agents=3,
            calls_per_agent_per_day=40,
            business_days=20,
            call_minutes=4.5,
            agent_talk_share=0.6,
            llm_turns_per_call=9,
            system_prompt_tokens=1500,
            non_cached_input_tokens_per_call=2000,
            output_tokens_per_call=400,
            calls_per_hour=12,
            discount=0.25,
        ),
        load_catalog("seed-2025-05"),
        "premium",
    ).to_json()
    assert out == expected
    assert out["calls"] == 2400  # 3 agents x 40 calls each x 20 days
    assert out["minutes"] == 10800


def test_zero_calls_prints_null_per_call() -> None:
    out = run_json("--calls-per-day", "0")
    assert out["calls"] == 0
    assert out["total_usd"] == 500.0  # the LiveKit plan base is owed anyway
    assert out["per_call_usd"] is None and out["per_hour_usd"] is None


def test_table_output() -> None:
    result = runner.invoke(app, ["cost", "--stack", "premium", "--discount", "0.4"])
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    for needle in (
        "premium",
        "LiveKit + Deepgram + GPT-4.1 mini + ElevenLabs + Telnyx",
        "$563.00",
        "$1,980.00",
        "$3,301.47",
        "-$1,320.59",
        "$1,980.88",
        "Per call",
        "Per hour",
        "22,000 calls",
        "10 agents x 100 calls/agent/day x 22 days",
    ):
        assert needle in text, needle
    assert not text.lstrip().startswith("{")


@pytest.mark.parametrize(
    ("args", "messages"),
    [
        (["--agents", "0"], ["--agents: Input should be greater than or equal to 1 (got 0)"]),
        (
            ["--agent-talk-share", "1.5", "--discount", "1", "--days", "0"],
            [
                "--days: Input should be greater than or equal to 1",
                "--agent-talk-share: Input should be less than or equal to 1",
                "--discount: Input should be less than 1",
            ],
        ),
        (["--call-minutes", "0"], ["--call-minutes: Input should be greater than 0"]),
        (["--calls-per-day", "-3"], ["--calls-per-day: Input should be greater than or equal"]),
        (["--turns", "-1"], ["--turns: Input should be greater than or equal to 0"]),
        (["--stack", "gold"], ["no stack named 'gold'"]),
        (["--prices", "seed-1999"], ["no such price catalog"]),
    ],
)
def test_invalid_input_exits_2_with_one_line_per_problem(
    args: list[str], messages: list[str]
) -> None:
    result = runner.invoke(app, ["cost", *args, "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(messages), lines
    for message in messages:
        assert any(line.startswith("error: ") and message in line for line in lines), lines
    assert "Traceback" not in result.stderr


def test_unparseable_number_is_a_usage_error() -> None:
    result = runner.invoke(app, ["cost", "--agents", "ten"])
    assert result.exit_code == 2
    assert "--agents" in result.stderr


USER_FILE = """\
extends: current
catalog: acme
date: "2025-06-01"
source: our contract
models:
  deepgram/nova-3: {kind: stt, per_minute: 0.0065, source: contract, date: "2025-06"}
stacks:
  thrifty:
    label: nova-3 + nano + Sonic 2 over Telnyx
    livekit: livekit/agent-session
    stt: deepgram/nova-3
    llm: openai/gpt-4.1-nano
    tts: cartesia/sonic-2
    telephony: telnyx/sip
"""


def test_user_price_file_with_an_extra_stack(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(USER_FILE)
    out = run_json("--stack", "thrifty", "--prices", str(path))
    assert out["stack"] == "thrifty"
    assert out["components"]["stt"] == 214.5  # 33,000 min x 0.0065
    assert out["components"]["telephony"] == 561.0
    # the same file through the environment
    assert run_json("--stack", "thrifty", env={"PRICES_FILE": str(path)}) == out


def test_broken_price_file_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "extends: current\nmodels:\n"
        "  deepgram/nova-2: {kind: stt, per_minute: cheap, source: x, date: '2025-06'}\n"
    )
    result = runner.invoke(app, ["cost", "--prices", str(path), "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"error: {path}: models[deepgram/nova-2].per_minute:" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_makes_the_calls_per_day_unit_plain() -> None:
    result = runner.invoke(app, ["cost", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "PER AGENT per business day" in result.stdout


# --- Billing basis and self-hosting (issue 20) -------------------------------------------------


def test_stt_billing_streamed_bills_every_minute() -> None:
    speech = run_json()
    streamed = run_json("--stt-billing", "streamed")
    assert speech["components"]["stt"] == 155.10  # the seed's rule stays the default
    assert streamed["components"]["stt"] == 310.20
    assert streamed["rules"]["stt"] == "per minute, on every minute of the call (audio streamed)"
    assert run_json("--stt-billing", "catalog")["components"]["stt"] == 310.20  # Deepgram's own


def test_self_hosted_livekit_is_priced_by_compute() -> None:
    cloud, own = run_json(), run_json("--self-hosted")
    assert own["stack"] == "economy"
    assert 0 < own["components"]["livekit"] < cloud["components"]["livekit"]
    assert own["rules"]["livekit"].startswith("compute")
    dearer = run_json("--self-hosted", "--vcpu-hour-usd", "1")
    assert dearer["components"]["livekit"] > own["components"]["livekit"]
    env = run_json("--self-hosted", env={"VCPU_HOUR_USD": "1"})
    assert env["components"]["livekit"] == dearer["components"]["livekit"]


def test_local_stack_is_not_free() -> None:
    out = run_json("--stack", "local")
    assert out["total_usd"] > 0
    assert out["components"]["telephony"] == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--stt-billing", "always"], "error: --stt-billing: Input should be 'speech'"),
        (["--self-hosted", "--vcpu-hour-usd", "-1"], "error: --vcpu-hour-usd: must be a number"),
        (["--vcpu-hour-usd", "1e25"], "error: --vcpu-hour-usd: must be a number"),
        (["--vcpu-hour-usd", "nan"], "error: --vcpu-hour-usd: must be a number"),
    ],
)
def test_bad_billing_options_exit_2(args: list[str], expected: str) -> None:
    result = runner.invoke(app, ["cost", *args, "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(expected)
