"""Which calls a dashboard page shows: filters from the query string, applied to stored reports.

The store filters on the columns it indexes (start time, channel, outcome); agent, cost and the
end of the date range are checked here on the report documents it returns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from callcrew.metrics.stats import cost_total
from callcrew.store import Store

# Reports read per page at most: the dashboard is a window on recent calls, not an export.
MAX_REPORTS = 5000


@dataclass(frozen=True)
class Filters:
    since: date | None = None  # first day shown (UTC)
    until: date | None = None  # last day shown, inclusive
    channel: str | None = None
    outcome: str | None = None
    agent: str | None = None
    min_cost: float | None = None
    max_cost: float | None = None
    problems: tuple[str, ...] = field(default=())

    def query_string(self, **changes: Any) -> str:
        """The filters as a query string (for links that keep them), with `changes` applied."""
        values = {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "channel": self.channel,
            "outcome": self.outcome,
            "agent": self.agent,
            "min_cost": _plain(self.min_cost),
            "max_cost": _plain(self.max_cost),
        }
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})

    @property
    def active(self) -> bool:
        return any(
            v is not None
            for v in (
                self.since,
                self.until,
                self.channel,
                self.outcome,
                self.agent,
                self.min_cost,
                self.max_cost,
            )
        )


def _plain(value: float | None) -> str | None:
    return None if value is None else f"{value:g}"


def _text(raw: str | None, limit: int = 64) -> str | None:
    value = (raw or "").strip()
    return value[:limit] or None


def parse_filters(params: Mapping[str, str]) -> Filters:
    """Filters from a query string; a bad value is dropped and named in `problems`."""
    problems: list[str] = []

    def day(key: str) -> date | None:
        raw = _text(params.get(key), 32)
        if raw is None:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            problems.append(f"{key}: expected a date like 2026-06-01, got {raw!r}")
            return None

    def money(key: str) -> float | None:
        raw = _text(params.get(key), 32)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            problems.append(f"{key}: expected an amount in dollars like 0.05, got {raw!r}")
            return None
        return value

    return Filters(
        since=day("since"),
        until=day("until"),
        channel=_text(params.get("channel")),
        outcome=_text(params.get("outcome")),
        agent=_text(params.get("agent")),
        min_cost=money("min_cost"),
        max_cost=money("max_cost"),
        problems=tuple(problems),
    )


def _started(report: Mapping[str, Any]) -> datetime | None:
    raw = report.get("started_at")
    if not isinstance(raw, str):
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def matches(report: Mapping[str, Any], f: Filters) -> bool:
    """The checks the store does not make (it already applied since, channel and outcome)."""
    if f.until is not None:
        started = _started(report)
        if started is None or started.date() > f.until:
            return False
    if f.agent is not None and f.agent not in (report.get("agents_visited") or []):
        return False
    if f.min_cost is not None or f.max_cost is not None:
        total = cost_total(dict(report))
        if total is None:
            return False
        if f.min_cost is not None and total < f.min_cost:
            return False
        if f.max_cost is not None and total > f.max_cost:
            return False
    return True


def load_reports(store: Store, f: Filters, limit: int = MAX_REPORTS) -> list[dict[str, Any]]:
    """Reports matching `f`, newest first (read only: the store is never written)."""
    since = datetime.combine(f.since, time.min, UTC) if f.since else None
    reports = store.reports.list(since=since, outcome=f.outcome, limit=limit, channel=f.channel)
    return [r for r in reports if matches(r, f)]


def choices(reports: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """The values seen, for the filter drop-downs."""
    channels = {str(r["channel"]) for r in reports if r.get("channel")}
    outcomes = {str(r["outcome"]) for r in reports if r.get("outcome")}
    agents = {str(a) for r in reports for a in (r.get("agents_visited") or [])}
    return {
        "channel": sorted(channels),
        "outcome": sorted(outcomes),
        "agent": sorted(agents),
    }


def day_of(report: Mapping[str, Any]) -> date | None:
    started = _started(report)
    return started.date() if started else None


def days_between(first: date, last: date) -> list[date]:
    """Every day from first to last inclusive (a chart shows quiet days as zero)."""
    count = min((last - first).days, 366)
    return [first + timedelta(days=i) for i in range(count + 1)]
