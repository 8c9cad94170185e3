"""`callcrew calls show`, printed: a call's header, transcript with turn timings, usage and cost."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from callcrew.metrics import stats
from callcrew.metrics.calls_format import duration, secs, usd, when
from callcrew.metrics.report import mask_number

_TIMINGS = (
    ("e2e_latency", "e2e"),
    ("true_wait_s", "true wait"),
    ("end_of_turn_delay", "end of turn"),
    ("transcription_delay", "stt"),
    ("llm_node_ttft", "llm ttft"),
    ("tts_node_ttfb", "tts ttfb"),
)


def _timing(turn: dict[str, Any]) -> str:
    parts = [f"{label} {secs(turn[key])}" for key, label in _TIMINGS if turn.get(key) is not None]
    if isinstance(tps := turn.get("llm_tokens_per_s"), int | float):
        parts.append(f"{tps:.0f} tok/s")
    if turn.get("first"):
        parts.insert(0, "first turn")
    if turn.get("interrupted"):
        parts.append("interrupted")
    return " | ".join(parts)


def _offset(started: datetime | None, duration: Any, value: Any) -> str:
    """m:ss.s into the call; the clock time if the entry lies outside the call."""
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return " " * 7
    length = float(duration) if isinstance(duration, int | float) else 0.0
    if started is not None:
        seconds = (at - started).total_seconds()
        if -1.0 <= seconds <= length + 60:
            seconds = max(0.0, seconds)
            return f"{int(seconds // 60)}:{seconds % 60:04.1f}".rjust(7)
    return f"{at.astimezone(UTC):%H:%M:%S}".rjust(7)


def _match_turns(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Transcript position of each agent line -> its turn (same order, same text)."""
    turns = list(report.get("turns") or [])
    matched: dict[int, dict[str, Any]] = {}
    j = 0
    for pos, entry in enumerate(report.get("transcript") or []):
        if entry.get("role") != "agent":
            continue
        for k in range(j, len(turns)):
            if (turns[k].get("text") or "") == entry.get("text"):
                matched[pos] = turns[k]
                j = k + 1
                break
    return matched


def _print_transcript(out: Console, report: dict[str, Any]) -> None:
    try:
        started: datetime | None = datetime.fromisoformat(str(report.get("started_at")))
    except ValueError:
        started = None
    turns = _match_turns(report)
    for pos, e in enumerate(report.get("transcript") or []):
        at = f"[dim]{_offset(started, report.get('duration_s'), e.get('time'))}[/]"
        role = e.get("role")
        if role == "caller":
            out.print(f"{at} [bold cyan]caller[/]  {escape(str(e.get('text')))}")
        elif role == "agent":
            out.print(f"{at} [bold green]agent[/]   {escape(str(e.get('text')))}")
            if pos in turns and (timing := _timing(turns[pos])):
                out.print(f"{' ' * 17}[dim]({escape(timing)})[/]")
        elif role == "tool_call":
            args = str(e.get("arguments") or "")
            out.print(f"{at} [dim]  -> {escape(str(e.get('name')))}({escape(args)})[/]")
        elif role == "tool_result":
            first = str(e.get("output") or "").splitlines()
            line = escape(first[0][:120]) if first else ""
            if e.get("is_error"):
                out.print(f"{at} [yellow]  !! {escape(str(e.get('name')))}: {line}[/]")
            elif line:
                out.print(f"{at} [dim]  <- {line}[/]")
        elif role == "handoff":
            came = f"{escape(str(e['from']))} -> " if e.get("from") else ""
            out.print(f"{at} [magenta]  => {came}{escape(str(e.get('to')))}[/]")


def _usage_line(row: dict[str, Any]) -> str:
    kind = row.get("kind")
    model = f"{row.get('provider')}/{row.get('model')}"
    if kind == "llm":
        return (
            f"LLM {model}: {row.get('input_tokens')} input tokens "
            f"({row.get('cached_input_tokens')} cached), {row.get('output_tokens')} output"
        )
    if kind == "tts":
        return f"TTS {model}: {row.get('characters')} characters, {row.get('audio_s')} s audio"
    if kind == "stt":
        return f"STT {model}: {row.get('audio_s')} s audio"
    return f"{kind} {model}"


def print_call(out: Console, report: dict[str, Any], *, unmask: bool) -> None:
    """The whole of `calls show` for one stored report."""

    def number(key: str) -> str:
        value = report.get(key)
        return (value if unmask else mask_number(value)) or "-"

    out.print(
        f"[bold]{escape(str(report.get('call_id')))}[/]  {report.get('outcome')} "
        f"(ended by {report.get('ended_by') or '-'})"
    )
    out.print(
        f"{report.get('channel')} call, room {escape(str(report.get('room')))}, "
        f"caller {number('caller_number')}, dialled {number('dialled_number')}"
    )
    out.print(
        f"started {when(report.get('started_at'))} UTC, lasted "
        f"{duration(report.get('duration_s'))} ({report.get('duration_s')} s), "
        f"stack {escape(str(report.get('stack')))}"
    )
    if agents := report.get("agents_visited"):
        out.print(f"agents {' -> '.join(escape(str(a)) for a in agents)}")

    out.rule("transcript", align="left")
    _print_transcript(out, report)
    if any(t.get("e2e_latency") is not None for t in report.get("turns") or []):
        out.print(
            "[dim]e2e is LiveKit's: from the VAD's end-of-speech estimate (~100 ms after the "
            "caller stopped); true wait, when known, is from the caller's real end of speech.[/]"
        )

    out.rule("usage", align="left")
    usage = report.get("usage") or []
    for row in usage:
        out.print(escape(_usage_line(row)))
    if not usage:
        out.print("[dim]no usage recorded[/]")

    out.rule("cost", align="left")
    cost = stats.cost_of(report)
    if cost is None:
        out.print("[dim]not priced (no catalog or no such stack in it)[/]")
    else:
        table = Table(box=None, pad_edge=False, show_header=False)
        table.add_column("component")
        table.add_column("USD", justify="right")
        for component in stats.COST_COMPONENTS:
            table.add_row(component, usd(cost.get(component), 6))
        for model, amount in (cost.get("llm_by_model") or {}).items():
            table.add_row(f"  llm {escape(str(model))}", usd(amount, 6))
        table.add_row("[bold]total[/]", f"[bold]{usd(cost.get('total'), 6)}[/]")
        out.print(table)
        kind = "estimated from the words spoken" if cost.get("estimated") else "measured usage"
        out.print(
            f"[dim]{cost.get('minutes')} min priced as {escape(str(cost.get('stack')))} with the "
            f"{escape(str(cost.get('catalog')))} catalog, {kind}[/]"
        )

    if errors := report.get("errors"):
        out.rule("errors", align="left")
        for e in errors:
            out.print(f"[red]- {escape(str(e))}[/]")
    if crew := report.get("crew"):
        out.rule("crew", align="left")
        for key, value in crew.items():
            if value not in (None, [], {}, ""):
                shown = value if isinstance(value, str) else json.dumps(value)
                out.print(f"{escape(str(key))}: {escape(str(shown))}")
    from callcrew.metrics.analysis_cli import print_analysis

    print_analysis(out, report)
