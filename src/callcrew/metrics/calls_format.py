"""How `callcrew calls` shows values: times, durations, dollars and seconds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from callcrew.metrics import stats


def when(value: Any) -> str:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value or "-")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return f"{parsed:%Y-%m-%d %H:%M}"


def duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def usd(value: Any, places: int = 4) -> str:
    return f"${value:,.{places}f}" if isinstance(value, int | float) else "-"


def cost_cell(report: dict[str, Any]) -> str:
    cost = stats.cost_of(report)
    if cost is None:
        return "-"
    return ("~" if cost.get("estimated") else "") + usd(cost["total"])


def secs(value: Any, places: int = 2) -> str:
    return f"{value:.{places}f} s" if isinstance(value, int | float) else "-"
