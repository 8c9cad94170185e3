"""Measured vs planned: each stack's calls beside the planner's prediction, lines > 10 % flagged."""

from __future__ import annotations

from typing import Any

import pytest

from callcrew.metrics.call_cost import cost_of_report
from callcrew.metrics.plan_check import StackCheck, compare_to_plan, plan_tables
from callcrew.metrics.pricing import load_catalog

pytestmark = pytest.mark.unit

CATALOG = load_catalog("current")


def report(
    *, stt_s: float, tts_s: float = 90.0, turns: int = 6, stack: str = "economy"
) -> dict[str, Any]:
    """A measured 3-minute inbound call; tokens exactly as the seed assumes for 6 turns."""
    r: dict[str, Any] = {
        "channel": "inbound",
        "duration_s": 180.0,
        "transcript": [],
        "turns": [{"index": i} for i in range(turns)],
        "usage": [
            {
                "kind": "llm",
                "provider": "openai",
                "model": "gpt-4.1-mini",
                "input_tokens": 6 * 2000 + 975,
                "cached_input_tokens": 6 * 2000,
                "output_tokens": 210,
            },
            {"kind": "stt", "provider": "deepgram", "model": "nova-3", "audio_s": stt_s},
            {"kind": "tts", "provider": "cartesia", "model": "sonic-2", "characters": 1350,
             "audio_s": tts_s},
        ],
    }  # fmt: skip
    r["cost"] = cost_of_report(r, CATALOG, stack)
    return r


def only(checks: list[StackCheck]) -> StackCheck:
    assert len(checks) == 1
    return checks[0]


def test_a_call_as_the_planner_assumes_has_no_flag() -> None:
    check = only(compare_to_plan([report(stt_s=90.0)], catalog=CATALOG))
    assert check.stack == "economy"
    assert check.profile.minutes == 3.0
    assert check.profile.agent_talk_share == 0.5
    assert check.profile.turns == 6
    assert check.flagged == []
    for line in check.lines:
        assert line.measured_per_call == pytest.approx(line.planned_per_call, abs=1e-6)
    assert check.measured_per_minute == pytest.approx(check.measured_per_call / 3)


def test_streamed_stt_is_flagged_against_the_seed_rule_and_not_against_its_own() -> None:
    # LiveKit 1.8.9 sends every frame to a streaming STT: it hears the whole 3 minutes.
    calls = [report(stt_s=180.0)]
    seed_rule = only(compare_to_plan(calls, catalog=CATALOG))
    assert seed_rule.flagged == ["stt"]
    stt = next(line for line in seed_rule.lines if line.component == "stt")
    assert stt.difference == pytest.approx(1.0)  # twice the planned line
    assert stt.rule == "STT on caller speech"
    own = only(compare_to_plan(calls, catalog=CATALOG, stt_billing="catalog"))
    assert own.flagged == []
    assert next(line for line in own.lines if line.component == "stt").rule == "STT on every minute"


def test_the_threshold_is_ten_percent() -> None:
    # STT heard 9 % more than the caller's half: passes; 11 % more: flagged. (TTS seconds set the
    # talk share of the profile, so the TTS line follows them by construction.)
    assert only(compare_to_plan([report(stt_s=90 * 1.09)], catalog=CATALOG)).flagged == []
    assert only(compare_to_plan([report(stt_s=90 * 1.11)], catalog=CATALOG)).flagged == ["stt"]


def test_stacks_are_compared_apart_and_unpriced_reports_skipped() -> None:
    unpriced = {"channel": "web", "duration_s": 60.0, "usage": [], "turns": []}
    checks = compare_to_plan(
        [report(stt_s=90), report(stt_s=90, stack="premium"), unpriced], catalog=CATALOG
    )
    assert [c.stack for c in checks] == ["economy", "premium"]
    assert all(c.profile.calls == 1 for c in checks)
    assert len(plan_tables(checks)) == 2
    # the dashboard gets plain data
    dumped = checks[0].model_dump()
    assert {"stack", "profile", "lines", "measured_per_call", "planned_per_call"} <= set(dumped)
