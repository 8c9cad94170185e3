"""What each dashboard page shows, computed from call reports (no HTML here but the charts').

Numbers come from `metrics/stats.py` so the dashboard and `callcrew calls` agree; the forecast
is the monthly planner's cost per call for the configured stack.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from callcrew.dashboard import charts
from callcrew.dashboard.query import day_of, days_between
from callcrew.metrics.report import mask_number
from callcrew.metrics.stats import (
    COST_COMPONENTS,
    call_percentile,
    cost_of,
    cost_total,
    percentile,
    summarize,
)

# Stages of a turn on the waterfall, in LiveKit's order; offsets count from the VAD's
# end-of-speech anchor except true wait, which counts from the caller's real end of speech.
STAGES = ("end of turn", "STT", "LLM TTFT", "TTS TTFB", "LiveKit e2e", "true wait")


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def usd(value: Any, places: int = 4) -> str:
    number = _num(value)
    return "-" if number is None else f"${number:.{places}f}"


def seconds(value: Any) -> str:
    number = _num(value)
    return "-" if number is None else f"{number:.2f} s"


def call_row(report: Mapping[str, Any]) -> dict[str, Any]:
    """One line of the calls list; the caller's number is masked."""
    started = str(report.get("started_at") or "")
    return {
        "call_id": str(report.get("call_id")),
        "started": started[:19].replace("T", " "),
        "channel": report.get("channel") or "-",
        "caller": mask_number(report.get("caller_number")) or "-",
        "outcome": report.get("outcome") or "-",
        "agents": " → ".join(report.get("agents_visited") or []) or "-",
        "duration": seconds(report.get("duration_s")),
        "cost": usd(cost_total(dict(report))),
        "e2e_p50": seconds(call_percentile(dict(report), "e2e_latency")),
        "turns": len(report.get("turns") or []),
    }


# --- one call --------------------------------------------------------------------------------


def transcript_items(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Lines, tool calls (with their results) and hand-offs in order, ready to print."""
    items: list[dict[str, Any]] = []
    for entry in report.get("transcript") or []:
        role = entry.get("role")
        time = str(entry.get("time") or "")[11:19]
        if role in ("caller", "agent"):
            items.append(
                {
                    "kind": role,
                    "time": time,
                    "text": entry.get("text", ""),
                    "note": "interrupted" if entry.get("interrupted") else "",
                }
            )
        elif role == "tool_call":
            items.append(
                {
                    "kind": "tool",
                    "time": time,
                    "text": f"{entry.get('name')}({_compact(entry.get('arguments'))})",
                    "note": "",
                }
            )
        elif role == "tool_result":
            items.append(
                {
                    "kind": "tool-error" if entry.get("is_error") else "result",
                    "time": time,
                    "text": f"{entry.get('name')} → {_compact(entry.get('output'), 240)}",
                    "note": "error" if entry.get("is_error") else "",
                }
            )
        elif role == "handoff":
            items.append(
                {
                    "kind": "handoff",
                    "time": time,
                    "text": f"hand-off {entry.get('from') or '-'} → {entry.get('to') or '-'}",
                    "note": "",
                }
            )
    return items


def _compact(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    with contextlib.suppress(TypeError, ValueError):
        text = json.dumps(json.loads(text), separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def turn_spans(turn: Mapping[str, Any]) -> list[charts.Span]:
    eot = _num(turn.get("end_of_turn_delay"))
    stt = _num(turn.get("transcription_delay"))
    ttft = _num(turn.get("llm_node_ttft"))
    ttfb = _num(turn.get("tts_node_ttfb"))
    e2e = _num(turn.get("e2e_latency"))
    wait = _num(turn.get("true_wait_s"))
    spans: list[charts.Span] = []
    if eot is not None:
        spans.append(charts.Span("end of turn", 0.0, eot))
    if stt is not None:
        spans.append(charts.Span("STT", 0.0, stt))
    start = eot or 0.0
    if ttft is not None:
        spans.append(charts.Span("LLM TTFT", start, ttft))
        start += ttft
    if ttfb is not None:
        spans.append(charts.Span("TTS TTFB", start, ttfb))
    if e2e is not None:
        spans.append(charts.Span("LiveKit e2e", 0.0, e2e))
    if wait is not None:
        spans.append(charts.Span("true wait", 0.0, wait))
    return spans


def turn_table(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for turn in report.get("turns") or []:
        rows.append(
            {
                "index": turn.get("index"),
                "first": bool(turn.get("first")),
                "text": str(turn.get("text") or "")[:80],
                "end_of_turn": seconds(turn.get("end_of_turn_delay")),
                "stt": seconds(turn.get("transcription_delay")),
                "ttft": seconds(turn.get("llm_node_ttft")),
                "ttfb": seconds(turn.get("tts_node_ttfb")),
                "e2e": seconds(turn.get("e2e_latency")),
                "true_wait": seconds(turn.get("true_wait_s")),
            }
        )
    return rows


def recording(report: Mapping[str, Any]) -> Path | None:
    """The WAV an audio rehearsal (or a recorded call) left, if it is still on disk."""
    audio = report.get("audio")
    raw = audio.get("wav") if isinstance(audio, Mapping) else None
    if not isinstance(raw, str) or not raw.lower().endswith((".wav", ".ogg")):
        return None
    path = Path(raw)
    return path if path.is_file() else None


@dataclass(frozen=True)
class CallPage:
    report: Mapping[str, Any]
    row: dict[str, Any]
    items: list[dict[str, Any]]
    turns: list[dict[str, Any]]
    waterfall: str | None
    costs: list[tuple[str, str]]
    cost_note: str
    analysis: list[tuple[str, str]]
    errors: list[str]
    has_audio: bool


def call_page(report: Mapping[str, Any]) -> CallPage:
    turns = [t for t in report.get("turns") or [] if isinstance(t, Mapping)]
    rows = [(f"turn {t.get('index')}", turn_spans(t)) for t in turns]
    rows = [(label, spans) for label, spans in rows if spans]
    cost = cost_of(dict(report))
    costs = [(c, usd(cost.get(c), 6)) for c in COST_COMPONENTS] if cost else []
    if cost:
        costs.append(("total", usd(cost.get("total"), 6)))
        note = f"catalog {cost.get('catalog', '-')}, stack {cost.get('stack', '-')}"
        if cost.get("estimated"):
            note += "; speech time estimated from the words (a text rehearsal)"
    else:
        note = "not priced (no price catalog for this stack)"
    analysis_raw = report.get("analysis")
    analysis = (
        [(str(k), _compact(v, 400)) for k, v in analysis_raw.items()]
        if isinstance(analysis_raw, Mapping)
        else []
    )
    return CallPage(
        report=report,
        row=call_row(report),
        items=transcript_items(report),
        turns=turn_table(report),
        waterfall=charts.waterfall(rows) if rows else None,
        costs=costs,
        cost_note=note,
        analysis=analysis,
        errors=[str(e) for e in report.get("errors") or []],
        has_audio=recording(report) is not None,
    )


# --- over time -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    summary: dict[str, Any]
    outcomes_chart: str
    latency_chart: str
    cost_per_call_chart: str
    cost_per_day_chart: str
    planned_per_call: float | None
    days: int


def overview(
    reports: Sequence[Mapping[str, Any]],
    planned_per_call: float | None,
    first: date | None = None,
    last: date | None = None,
) -> Overview:
    """Charts per day between `first` and `last` (default: the calls' own range)."""
    by_day: dict[date, list[Mapping[str, Any]]] = defaultdict(list)
    for r in reports:
        d = day_of(r)
        if d is not None:
            by_day[d].append(r)
    seen = sorted(by_day)
    start = first or (seen[0] if seen else date.today())
    end = last or (seen[-1] if seen else start)
    days = days_between(start, end) if start <= end else [start]
    labels = [d.strftime("%m-%d") for d in days]
    outcomes = Counter(str(r.get("outcome") or "unknown") for r in reports)
    stacks = [
        charts.Series(name, [sum(1 for r in by_day[d] if r.get("outcome") == name) for d in days])
        for name, _ in outcomes.most_common()
    ]

    def pct(metric: str, q: float) -> list[float | None]:
        out: list[float | None] = []
        for d in days:
            values = [
                v
                for r in by_day[d]
                for t in r.get("turns") or []
                if (v := _num(t.get(metric))) is not None
            ]
            out.append(percentile(values, q) if values else None)
        return out

    latency = [
        charts.Series("LiveKit e2e p50", pct("e2e_latency", 50)),
        charts.Series("LiveKit e2e p95", pct("e2e_latency", 95)),
        charts.Series("LLM TTFT p50", pct("llm_node_ttft", 50)),
    ]
    true_wait = pct("true_wait_s", 50)
    if any(v is not None for v in true_wait):
        latency.append(charts.Series("true wait p50", true_wait))

    per_call: list[float | None] = []
    per_day: list[float | None] = []
    planned_day: list[float | None] = []
    for d in days:
        totals = [t for r in by_day[d] if (t := cost_total(dict(r))) is not None]
        per_call.append(sum(totals) / len(totals) if totals else None)
        per_day.append(sum(totals) if totals else (0.0 if by_day[d] else None))
        planned_day.append(
            planned_per_call * len(by_day[d]) if planned_per_call is not None else None
        )
    cost_series = [charts.Series("measured per call", per_call)]
    day_series = [charts.Series("measured per day", per_day)]
    if planned_per_call is not None:
        cost_series.append(
            charts.Series("planned per call", [planned_per_call] * len(days), dashed=True)
        )
        day_series.append(charts.Series("planned for these calls", planned_day, dashed=True))
    return Overview(
        summary=summarize([dict(r) for r in reports]).to_json(),
        outcomes_chart=charts.stacked_bars("calls per day by outcome", labels, stacks),
        latency_chart=charts.lines("latency per day", labels, latency, "s"),
        cost_per_call_chart=charts.lines("cost per call", labels, cost_series, "$"),
        cost_per_day_chart=charts.lines("cost per day", labels, day_series, "$"),
        planned_per_call=planned_per_call,
        days=len(days),
    )
