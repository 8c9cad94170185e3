"""Numbers over many call reports: percentiles, costs, outcomes, the seed's latency table.

Pure functions over report dicts (the shape `metrics/report.py` writes), so `callcrew calls`
only reads the store and prints, and everything here is tested without a database.

"First" and "later" turns are kept apart because a call's first model request pays for the
whole system prompt (the seed's "prompt tax"). A turn counts as *first* for a metric when it is
the first turn of its call where that metric was measured: with a fixed greeting (no LLM, no
caller line before it) the first measured TTFT and e2e belong to the reply to the caller's first
line, which is where the tax falls.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# Per-turn figures in a report's `turns`, in the order they are shown.
LATENCY_METRICS: tuple[str, ...] = (
    "end_of_turn_delay",
    "transcription_delay",
    "llm_node_ttft",
    "tts_node_ttfb",
    "e2e_latency",
    "true_wait_s",
    "llm_tokens_per_s",
)
COST_COMPONENTS: tuple[str, ...] = ("livekit", "stt", "llm", "tts", "telephony")

# Columns of the seed table (tests/fixtures/seed_latency.csv) a measured stack fills, + calls.
SEED_COLUMNS: tuple[str, ...] = (
    "stack",
    "calls",
    "ttft_first_s",
    "ttft_next_s",
    "tts_ttfb_s",
    "first_byte_s",
    "tokens_per_s",
)

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$", re.IGNORECASE)
_AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


# --- small numbers ---------------------------------------------------------------------------


def as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between ranks; None when empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, got {q}")
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Dist:
    """A distribution in five numbers; every figure is None when there are no values."""

    n: int
    p50: float | None
    p95: float | None
    min: float | None
    max: float | None

    @classmethod
    def of(cls, values: Iterable[float]) -> Dist:
        vals = sorted(values)
        if not vals:
            return cls(0, None, None, None, None)
        return cls(len(vals), percentile(vals, 50), percentile(vals, 95), vals[0], vals[-1])

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "p50": self.p50, "p95": self.p95, "min": self.min, "max": self.max}


# --- --since ---------------------------------------------------------------------------------


def parse_since(text: str, now: datetime) -> datetime:
    """`2026-06-01` (midnight UTC), `2026-06-01T09:00[+02:00]`, or an age: `30m`, `24h`, `7d`,
    `2w`. Naive times are UTC. Raises ValueError with a sentence saying what is accepted."""
    match = _AGE.match(text)
    if match:
        amount = float(match.group(1))
        if amount <= 0:
            raise ValueError(f"the age must be more than zero, got {text!r}")
        try:
            return now - timedelta(**{_AGE_UNITS[match.group(2).lower()]: amount})
        except OverflowError:
            raise ValueError(f"the age {text!r} reaches back before the year 1") from None
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"expected a date (2026-06-01), a date and time (2026-06-01T09:00) or an age "
            f"(30m, 24h, 7d, 2w); got {text!r}"
        ) from None
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is before the year 1 in UTC") from None


# --- one report ------------------------------------------------------------------------------


def turn_values(report: dict[str, Any], metric: str) -> tuple[list[float], list[float]]:
    """(first, later) values of a per-turn metric in one call; see the module docstring."""
    first: list[float] = []
    later: list[float] = []
    for turn in report.get("turns") or []:
        value = as_float(turn.get(metric))
        if value is None:
            continue
        (later if first else first).append(value)
    return first, later


def call_percentile(report: dict[str, Any], metric: str, q: float = 50) -> float | None:
    """A percentile of one metric over all of a call's turns."""
    first, later = turn_values(report, metric)
    return percentile(first + later, q)


def cost_of(report: dict[str, Any]) -> dict[str, Any] | None:
    cost = report.get("cost")
    return cost if isinstance(cost, dict) and as_float(cost.get("total")) is not None else None


def cost_total(report: dict[str, Any]) -> float | None:
    cost = cost_of(report)
    return as_float(cost["total"]) if cost else None


def priced_minutes(report: dict[str, Any]) -> float:
    """Minutes the cost was computed for: measured call time, or a rehearsal's estimate."""
    cost = cost_of(report)
    minutes = as_float(cost.get("minutes")) if cost else None
    if minutes is not None:
        return minutes
    return (as_float(report.get("duration_s")) or 0.0) / 60


# --- many reports ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LatencyStats:
    first: Dist
    later: Dist

    def to_json(self) -> dict[str, Any]:
        return {"first": self.first.to_json(), "later": self.later.to_json()}


@dataclass(frozen=True)
class Summary:
    calls: int
    call_hours: float  # measured call time (duration_s)
    priced_calls: int
    estimated_calls: int  # priced from the words spoken (text rehearsals)
    cost_usd: float  # total over priced calls
    cost_per_call: Dist
    cost_per_hour: float | None  # cost over priced call time
    outcomes: dict[str, int]
    channels: dict[str, int]
    stacks: dict[str, int]
    latency: dict[str, LatencyStats] = field(default_factory=dict)
    by_stack: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "call_hours": round(self.call_hours, 4),
            "priced_calls": self.priced_calls,
            "estimated_calls": self.estimated_calls,
            "cost_usd": round(self.cost_usd, 6),
            "cost_per_call": self.cost_per_call.to_json(),
            "cost_per_hour": self.cost_per_hour,
            "outcomes": self.outcomes,
            "channels": self.channels,
            "stacks": self.stacks,
            "latency": {k: v.to_json() for k, v in self.latency.items()},
            "by_stack": self.by_stack,
        }


def split_values(reports: Iterable[dict[str, Any]], metric: str) -> tuple[list[float], list[float]]:
    """(first, later) values of a per-turn metric over many calls."""
    first: list[float] = []
    later: list[float] = []
    for report in reports:
        f, rest = turn_values(report, metric)
        first += f
        later += rest
    return first, later


def latency_stats(reports: Sequence[dict[str, Any]]) -> dict[str, LatencyStats]:
    out: dict[str, LatencyStats] = {}
    for metric in LATENCY_METRICS:
        first, later = split_values(reports, metric)
        out[metric] = LatencyStats(Dist.of(first), Dist.of(later))
    return out


def _counts(values: Iterable[Any]) -> dict[str, int]:
    counter = Counter("unknown" if v is None else str(v) for v in values)
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def summarize(reports: Sequence[dict[str, Any]]) -> Summary:
    costs: list[float] = []
    priced_min = 0.0
    estimated = 0
    for report in reports:
        total = cost_total(report)
        if total is None:
            continue
        costs.append(total)
        priced_min += priced_minutes(report)
        cost = cost_of(report)
        if cost and cost.get("estimated"):
            estimated += 1
    hours = sum(as_float(r.get("duration_s")) or 0.0 for r in reports) / 3600
    return Summary(
        calls=len(reports),
        call_hours=hours,
        priced_calls=len(costs),
        estimated_calls=estimated,
        cost_usd=sum(costs),
        cost_per_call=Dist.of(costs),
        cost_per_hour=sum(costs) / (priced_min / 60) if priced_min > 0 else None,
        outcomes=_counts(r.get("outcome") for r in reports),
        channels=_counts(r.get("channel") for r in reports),
        stacks=_counts(r.get("stack") for r in reports),
        latency=latency_stats(reports),
        by_stack=seed_rows(reports),
    )


def format_range(values: Sequence[float], places: int = 2) -> str:
    """The seed table's style: `0.31-0.44`, one number when min and max agree, `-` for none."""
    if not values:
        return "-"
    low, high = f"{min(values):.{places}f}", f"{max(values):.{places}f}"
    return low if low == high else f"{low}-{high}"


def seed_rows(reports: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per stack in the columns of the seed's latency table, each a min-max range.

    `first_byte_s` is LiveKit's `e2e_latency` (from the VAD anchor, like the seed's own
    LiveKit-measured figure); `ttft_first_s` is each call's first measured TTFT.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for report in reports:
        groups.setdefault(str(report.get("stack") or "unknown"), []).append(report)
    rows: list[dict[str, Any]] = []
    for stack in sorted(groups):
        group = groups[stack]
        ttft_first, ttft_next = split_values(group, "llm_node_ttft")
        ttfb = [v for part in split_values(group, "tts_node_ttfb") for v in part]
        e2e = [v for part in split_values(group, "e2e_latency") for v in part]
        tps = [v for part in split_values(group, "llm_tokens_per_s") for v in part]
        rows.append(
            {
                "stack": stack,
                "calls": len(group),
                "ttft_first_s": format_range(ttft_first),
                "ttft_next_s": format_range(ttft_next),
                "tts_ttfb_s": format_range(ttfb),
                "first_byte_s": format_range(e2e),
                "tokens_per_s": format_range(tps, 0),
            }
        )
    return rows
