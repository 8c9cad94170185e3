"""Pure numbers over call reports: percentiles, --since, first vs later turns, cost, seed table."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callcrew.metrics import csv_export, stats

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 12, 13, 0, tzinfo=UTC)


def turn(index: int, **figures: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"index": index, "first": index == 0, "text": f"t{index}"}
    for key in (
        "end_of_turn_delay",
        "transcription_delay",
        "llm_node_ttft",
        "tts_node_ttfb",
        "e2e_latency",
        "llm_tokens_per_s",
        "true_wait_s",
    ):
        row[key] = figures.get(key)
    row["interrupted"] = figures.get("interrupted", False)
    return row


def report(
    call_id: str,
    *,
    stack: str = "economy",
    outcome: str = "booked",
    duration_s: float = 120.0,
    total: float | None = 0.05,
    minutes: float | None = 2.0,
    estimated: bool = False,
    ttft: tuple[float, ...] = (0.9, 0.4, 0.5),
    ttfb: float = 0.4,
) -> dict[str, Any]:
    # Turn 0 is the fixed greeting: nothing measured. Then one turn per TTFT.
    turns = [turn(0)] + [
        turn(
            i + 1,
            llm_node_ttft=t,
            tts_node_ttfb=ttfb,
            e2e_latency=round(t + ttfb + 0.3, 4),
            llm_tokens_per_s=30.0 + i,
        )
        for i, t in enumerate(ttft)
    ]
    cost = (
        None
        if total is None
        else {
            "livekit": 0.01,
            "stt": 0.005,
            "llm": 0.005,
            "tts": 0.02,
            "telephony": total - 0.04,
            "total": total,
            "llm_by_model": {},
            "catalog": "current",
            "stack": stack,
            "estimated": estimated,
            "minutes": minutes,
        }
    )
    return {
        "call_id": call_id,
        "room": "r",
        "channel": "inbound",
        "caller_number": "+15550142233",
        "dialled_number": None,
        "started_at": NOW.isoformat(),
        "ended_at": (NOW + timedelta(seconds=duration_s)).isoformat(),
        "duration_s": duration_s,
        "stack": stack,
        "outcome": outcome,
        "ended_by": "agent",
        "agents_visited": ["intro", "appointments", "wrapup"],
        "transcript": [
            {"role": "caller", "text": "hi"},
            {"role": "tool_call", "name": "book"},
            {"role": "tool_result", "name": "book", "is_error": True},
            {"role": "agent", "text": "t1"},
        ],
        "turns": turns,
        "usage": [
            {
                "kind": "llm",
                "provider": "openai",
                "model": "gpt-4.1-mini",
                "input_tokens": 1000,
                "cached_input_tokens": 600,
                "output_tokens": 80,
            },
            {
                "kind": "tts",
                "provider": "cartesia",
                "model": "sonic",
                "characters": 300,
                "audio_s": 20.5,
            },
            {"kind": "stt", "provider": "deepgram", "model": "nova-3", "audio_s": 40.25},
        ],
        "cost": cost,
        "errors": [],
        "crew": {},
    }


# --- percentile and Dist ---------------------------------------------------------------------


def test_percentile_interpolates_between_ranks() -> None:
    assert stats.percentile([], 50) is None
    assert stats.percentile([7.0], 95) == 7.0
    assert stats.percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert stats.percentile([1.0, 2.0, 3.0, 4.0], 0) == 1.0
    assert stats.percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    assert stats.percentile(list(map(float, range(1, 101))), 95) == pytest.approx(95.05)
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)


def test_dist() -> None:
    d = stats.Dist.of([3.0, 1.0, 2.0])
    assert (d.n, d.p50, d.min, d.max) == (3, 2.0, 1.0, 3.0)
    assert d.p95 == pytest.approx(2.9)
    assert stats.Dist.of([]) == stats.Dist(0, None, None, None, None)


# --- --since ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2w", NOW - timedelta(weeks=2)),
        ("1.5h", NOW - timedelta(minutes=90)),
        (" 7D ", NOW - timedelta(days=7)),
        ("2026-06-01", datetime(2026, 6, 1, tzinfo=UTC)),
        ("2026-06-01T09:00", datetime(2026, 6, 1, 9, tzinfo=UTC)),
        ("2026-06-01T09:00+02:00", datetime(2026, 6, 1, 7, tzinfo=UTC)),
        ("2026-06-01T09:00Z", datetime(2026, 6, 1, 9, tzinfo=UTC)),
    ],
)
def test_parse_since(text: str, expected: datetime) -> None:
    assert stats.parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "", "7", "-1d", "0h", "2026-13-01", "5y"])
def test_parse_since_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"24h|more than zero"):
        stats.parse_since(text, NOW)


# --- one report ------------------------------------------------------------------------------


def test_first_is_each_calls_first_measured_turn() -> None:
    r = report("c1", ttft=(0.9, 0.4, 0.5))
    # The greeting (turn 0) measured nothing, so the first TTFT is the first reply's.
    assert stats.turn_values(r, "llm_node_ttft") == ([0.9], [0.4, 0.5])
    assert stats.turn_values(r, "true_wait_s") == ([], [])
    assert stats.call_percentile(r, "llm_node_ttft") == 0.5
    assert stats.call_percentile(report("c2", ttft=()), "e2e_latency") is None


def test_non_numbers_are_ignored() -> None:
    r = report("c1", ttft=(0.5,))
    r["turns"].append(turn(2, llm_node_ttft=True))
    r["turns"].append(turn(3, llm_node_ttft="0.3"))
    r["turns"].append(turn(4, llm_node_ttft=float("nan")))
    assert stats.turn_values(r, "llm_node_ttft") == ([0.5], [])


def test_cost_helpers() -> None:
    assert stats.cost_total(report("c", total=0.07)) == 0.07
    assert stats.cost_total(report("c", total=None)) is None
    assert stats.priced_minutes(report("c", minutes=3.5)) == 3.5
    # Without a priced figure, the measured duration.
    unpriced = report("c", total=None, duration_s=90)
    assert stats.priced_minutes(unpriced) == 1.5


# --- many reports ----------------------------------------------------------------------------


def test_summarize() -> None:
    reports = [
        report("a", total=0.05, minutes=2.0, duration_s=120, ttft=(1.0, 0.4)),
        report("b", total=0.07, minutes=3.0, duration_s=180, outcome="cancelled", ttft=(0.8,)),
        report("c", total=0.03, minutes=1.0, duration_s=60, estimated=True, ttft=(0.6, 0.3)),
        report("d", total=None, duration_s=360, outcome="failed", ttft=()),
    ]
    s = stats.summarize(reports)
    assert s.calls == 4
    assert s.call_hours == pytest.approx(720 / 3600)
    assert (s.priced_calls, s.estimated_calls) == (3, 1)
    assert s.cost_usd == pytest.approx(0.15)
    assert s.cost_per_call.p50 == pytest.approx(0.05)
    # Per hour of (priced) call time: $0.15 over 6 minutes.
    assert s.cost_per_hour == pytest.approx(1.5)
    assert s.outcomes == {"booked": 2, "cancelled": 1, "failed": 1}
    assert list(s.outcomes) == ["booked", "cancelled", "failed"]
    ttft = s.latency["llm_node_ttft"]
    assert ttft.first.n == 3 and ttft.first.p50 == pytest.approx(0.8)
    assert ttft.later.n == 2 and ttft.later.p50 == pytest.approx(0.35)
    assert s.latency["true_wait_s"].first.n == 0
    js = s.to_json()
    assert js["latency"]["llm_node_ttft"]["first"]["n"] == 3
    assert js["cost_per_hour"] == pytest.approx(1.5)


def test_summarize_nothing() -> None:
    s = stats.summarize([])
    assert s.calls == 0 and s.cost_per_hour is None and s.by_stack == []
    assert s.cost_per_call.n == 0


def test_seed_rows_in_the_seed_format() -> None:
    reports = [
        report("a", ttft=(1.22, 0.42, 0.90), ttfb=0.43),
        report("b", ttft=(1.41, 0.5), ttfb=0.45),
        report("c", stack="premium", ttft=(0.3,), ttfb=0.4),
        report("d", stack="premium", ttft=(0.3,), ttfb=0.4, total=None),
    ]
    economy, premium = stats.seed_rows(reports)
    assert economy == {
        "stack": "economy",
        "calls": 2,
        "ttft_first_s": "1.22-1.41",
        "ttft_next_s": "0.42-0.90",
        "tts_ttfb_s": "0.43-0.45",
        "first_byte_s": "1.15-2.16",
        "tokens_per_s": "30-32",
    }
    assert premium["ttft_first_s"] == "0.30"  # one value, not a range
    assert premium["ttft_next_s"] == "-"
    assert list(economy) == list(stats.SEED_COLUMNS)


def test_format_range() -> None:
    assert stats.format_range([]) == "-"
    assert stats.format_range([0.5, 0.25, 1.0]) == "0.25-1.00"
    assert stats.format_range([17.2, 45.0], 0) == "17-45"
    assert stats.format_range([0.301, 0.304]) == "0.30"


# --- export rows -----------------------------------------------------------------------------


def test_flat_row() -> None:
    row = csv_export.flat_row(report("a", ttft=(0.9, 0.4, 0.5)))
    assert list(row) == list(csv_export.CSV_COLUMNS)
    assert row["caller_number"] == "+15550142233"
    assert row["agents_visited"] == "intro > appointments > wrapup"
    assert (row["agent_turns"], row["caller_turns"], row["tool_calls"], row["tool_errors"]) == (
        4,
        1,
        1,
        1,
    )
    assert row["llm_ttft_first_s"] == 0.9
    assert row["llm_ttft_p50_s"] == 0.5
    assert row["e2e_p50_s"] == pytest.approx(1.2)
    assert row["true_wait_p50_s"] is None
    assert row["llm_input_tokens"] == 1000 and isinstance(row["llm_input_tokens"], int)
    assert row["stt_audio_s"] == 40.25
    assert row["cost_total"] == 0.05 and row["cost_estimated"] is False
    masked = csv_export.flat_row(report("a"), mask=True)
    assert masked["caller_number"] == "+1555***2233"
    # A report with no cost and no turns still makes a full row.
    bare = csv_export.flat_row({"call_id": "x"})
    assert bare["cost_total"] is None and bare["agent_turns"] == 0
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=csv_export.CSV_COLUMNS)
    writer.writeheader()
    writer.writerow(row)
    writer.writerow(bare)
    assert len(list(csv.DictReader(io.StringIO(buffer.getvalue())))) == 2
