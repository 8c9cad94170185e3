"""`callcrew calls`: what each real call cost and how fast it answered, from the store.

    callcrew calls list --since 7d --outcome booked
    callcrew calls show call_5ebbc5b1cb6f4d10
    callcrew calls export --format csv --output calls.csv
    callcrew calls stats --since 2026-06-01

Every command reads the store at DATABASE_URL (or `--database-url`). The numbers are computed
in `metrics/stats.py`; this module only reads and prints.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from callcrew.call import Channel
from callcrew.crews import known_outcomes
from callcrew.metrics import stats
from callcrew.metrics.plan_check import compare_to_plan, plan_tables
from callcrew.metrics.report import mask_number
from callcrew.redact import mask_urls
from callcrew.settings import SettingsError, load_settings
from callcrew.store import Store, StoreError, StoreUnavailable, open_store

# Enough for "all of them" without an unbounded query.
ALL = 1_000_000_000

# Piped output (not a terminal, no COLUMNS) gets this width, so tables are not cut at 80.
PIPE_WIDTH = 200


def _console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(stderr=stderr, highlight=False, soft_wrap=True, width=PIPE_WIDTH)
    return console


out = _console()
err = _console(stderr=True)


def _consoles() -> None:
    """Fresh consoles for each command: the width and terminal are read when it runs."""
    global out, err
    out, err = _console(), _console(stderr=True)


calls_app = typer.Typer(
    name="calls",
    help="Look back at calls: list, show one, export, and latency/cost statistics.",
    no_args_is_help=True,
    add_completion=False,
)


def register(app: typer.Typer) -> None:
    from callcrew.metrics import analysis_cli

    analysis_cli.register(calls_app)
    app.add_typer(calls_app, name="calls")


class ExportFormat(enum.StrEnum):
    JSON = "json"
    CSV = "csv"


# --- options shared by the commands ----------------------------------------------------------

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="Store to read (default: DATABASE_URL or .env)."),
]
Since = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Calls started since a date (2026-06-01), a time (2026-06-01T09:00) or an age "
        "(30m, 24h, 7d, 2w). Times are UTC unless they carry an offset.",
    ),
]
OutcomeOpt = Annotated[
    str | None,
    typer.Option("--outcome", help="Only this outcome (the engine's or the crew's: booked, ...)."),
]
ChannelOpt = Annotated[
    str | None,
    typer.Option("--channel", help=f"Only this channel: {', '.join(c.value for c in Channel)}."),
]


def _bad(option: str, message: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=f"'{option}'")


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return stats.parse_since(value, datetime.now(UTC))
    except ValueError as exc:
        raise _bad("--since", str(exc)) from None


def _choice(option: str, value: str | None, allowed: list[str]) -> str | None:
    if value is None:
        return None
    cleaned = value.strip().lower()
    if cleaned not in allowed:
        raise _bad(option, f"{value!r} is not one of: {', '.join(allowed)}.")
    return cleaned


def _filters(
    since: str | None, outcome: str | None, channel: str | None
) -> tuple[datetime | None, str | None, str | None]:
    return (
        _since(since),
        _choice("--outcome", outcome, known_outcomes(os.environ.get("CREW") or "default")),
        _choice("--channel", channel, [c.value for c in Channel]),
    )


def _describe_filters(since: datetime | None, outcome: str | None, channel: str | None) -> str:
    parts = []
    if since is not None:
        parts.append(f"since {since:%Y-%m-%d %H:%M} UTC")
    if outcome:
        parts.append(f"outcome {outcome}")
    if channel:
        parts.append(f"channel {channel}")
    return ", ".join(parts)


# --- the store -------------------------------------------------------------------------------


@contextmanager
def _store(database_url: str | None, *, write: bool = False) -> Iterator[Store]:
    """The store, opened read-only: no migration, no write lock, never created (`write`: a
    command that updates reports, like `calls analyze`, opens it normally, migrated).

    A wrong URL or a store that does not exist exits 2 with the reason; a database that fails
    while open exits 1. Both print with markup off (the reason may quote user text).
    """
    try:
        settings = load_settings(database_url=database_url) if database_url else load_settings()
    except SettingsError as exc:
        err.print(exc.render(), markup=False)
        raise typer.Exit(2) from None
    try:
        store = open_store(settings.database_url, read_only=not write, crew=settings.crew)
    except StoreUnavailable as exc:
        err.print(str(exc), markup=False, style="red")
        raise typer.Exit(2) from None
    except (StoreError, SQLAlchemyError) as exc:
        shown = mask_urls(settings.database_url)
        err.print(f"Cannot open the store at {shown}: {mask_urls(str(exc))}", markup=False)
        raise typer.Exit(1) from None
    try:
        yield store
    finally:
        store.close()


def _load(
    database_url: str | None,
    since: datetime | None,
    outcome: str | None,
    channel: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    with _store(database_url) as store:
        return store.reports.list(since=since, outcome=outcome, limit=limit, channel=channel)


def _nothing(
    since: datetime | None, outcome: str | None, channel: str | None, *, to: Console
) -> None:
    described = _describe_filters(since, outcome, channel)
    if described:
        to.print(f"No calls match ({described}).")
    else:
        to.print(
            "No calls recorded yet: they appear here once the worker or a rehearsal saves one."
        )


# --- formatting ------------------------------------------------------------------------------


def _when(value: Any) -> str:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value or "-")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return f"{parsed:%Y-%m-%d %H:%M}"


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _usd(value: Any, places: int = 4) -> str:
    return f"${value:,.{places}f}" if isinstance(value, int | float) else "-"


def _cost_cell(report: dict[str, Any]) -> str:
    cost = stats.cost_of(report)
    if cost is None:
        return "-"
    return ("~" if cost.get("estimated") else "") + _usd(cost["total"])


def _s(value: Any, places: int = 2) -> str:
    return f"{value:.{places}f} s" if isinstance(value, int | float) else "-"


# --- list ------------------------------------------------------------------------------------


@calls_app.command("list")
def list_calls(
    since: Since = None,
    outcome: OutcomeOpt = None,
    channel: ChannelOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=ALL, help="At most this many calls.")
    ] = 50,
    database_url: DatabaseUrl = None,
) -> None:
    """Recent calls, newest first: when, who (masked), how long, how it ended, cost, latency."""
    _consoles()
    since_at, outcome_, channel_ = _filters(since, outcome, channel)
    reports = _load(database_url, since_at, outcome_, channel_, limit)
    if not reports:
        _nothing(since_at, outcome_, channel_, to=out)
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("started (UTC)", "left"),
        ("call id", "left"),
        ("channel", "left"),
        ("caller", "left"),
        ("duration", "right"),
        ("outcome", "left"),
        ("cost", "right"),
        ("p50 e2e", "right"),
    )
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True)
    for r in reports:
        table.add_row(
            _when(r.get("started_at")),
            str(r.get("call_id")),
            str(r.get("channel") or "-"),
            mask_number(r.get("caller_number")) or "-",
            _duration(r.get("duration_s")),
            str(r.get("outcome") or "-"),
            _cost_cell(r),
            _s(stats.call_percentile(r, "e2e_latency")),
        )
    out.print(table)
    more = " (--limit reached)" if len(reports) == limit else ""
    out.print(
        f"[dim]{len(reports)} calls, newest first{more}. ~ = cost estimated from the words "
        "spoken (text rehearsal); e2e is LiveKit's, from the VAD's end-of-speech estimate.[/]"
    )


# --- show ------------------------------------------------------------------------------------

_TIMINGS = (
    ("e2e_latency", "e2e"),
    ("true_wait_s", "true wait"),
    ("end_of_turn_delay", "end of turn"),
    ("transcription_delay", "stt"),
    ("llm_node_ttft", "llm ttft"),
    ("tts_node_ttfb", "tts ttfb"),
)


def _timing(turn: dict[str, Any]) -> str:
    parts = [f"{label} {_s(turn[key])}" for key, label in _TIMINGS if turn.get(key) is not None]
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


def _print_transcript(report: dict[str, Any]) -> None:
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


@calls_app.command("show")
def show(
    call_id: Annotated[str, typer.Argument(help="The call id, as `calls list` shows it.")],
    unmask: Annotated[bool, typer.Option("--unmask", help="Show phone numbers in full.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """One call: header, transcript with each agent turn's timings, usage and cost."""
    _consoles()
    with _store(database_url) as store:
        report = store.reports.get(call_id.strip())
    if report is None:
        err.print(f"No call with id {call_id!r} in the store.", markup=False, style="red")
        raise typer.Exit(1)

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
        f"started {_when(report.get('started_at'))} UTC, lasted "
        f"{_duration(report.get('duration_s'))} ({report.get('duration_s')} s), "
        f"stack {escape(str(report.get('stack')))}"
    )
    if agents := report.get("agents_visited"):
        out.print(f"agents {' -> '.join(escape(str(a)) for a in agents)}")

    out.rule("transcript", align="left")
    _print_transcript(report)
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
            table.add_row(component, _usd(cost.get(component), 6))
        for model, amount in (cost.get("llm_by_model") or {}).items():
            table.add_row(f"  llm {escape(str(model))}", _usd(amount, 6))
        table.add_row("[bold]total[/]", f"[bold]{_usd(cost.get('total'), 6)}[/]")
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


# --- export ----------------------------------------------------------------------------------


@calls_app.command("export")
def export(
    fmt: Annotated[
        ExportFormat,
        typer.Option("--format", case_sensitive=False, help="json: full reports; csv: a row each."),
    ] = ExportFormat.JSON,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    since: Since = None,
    outcome: OutcomeOpt = None,
    channel: ChannelOpt = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, max=ALL, help="At most this many (newest) calls."),
    ] = None,
    mask_numbers: Annotated[
        bool, typer.Option("--mask-numbers", help="Mask caller and dialled numbers.")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Export call reports: JSON (a list of full reports) or CSV (one flat row per call)."""
    _consoles()
    since_at, outcome_, channel_ = _filters(since, outcome, channel)
    reports = _load(database_url, since_at, outcome_, channel_, limit or ALL)
    if fmt is ExportFormat.JSON:
        if mask_numbers:
            reports = [
                {
                    **r,
                    "caller_number": mask_number(r.get("caller_number")),
                    "dialled_number": mask_number(r.get("dialled_number")),
                }
                for r in reports
            ]
        text = json.dumps(reports, indent=2) + "\n"
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=stats.CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in reports:
            writer.writerow(stats.flat_row(r, mask=mask_numbers))
        text = buffer.getvalue()
    if not reports:
        _nothing(since_at, outcome_, channel_, to=err)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        err.print(f"[red]Cannot write {escape(str(output))}: {escape(exc.strerror or str(exc))}[/]")
        raise typer.Exit(1) from None
    err.print(f"Wrote {len(reports)} calls to {escape(str(output))} ({fmt.value}).")


# --- stats -----------------------------------------------------------------------------------

_METRIC_LABELS = {
    "end_of_turn_delay": "end of turn delay",
    "transcription_delay": "transcription delay",
    "llm_node_ttft": "LLM TTFT",
    "tts_node_ttfb": "TTS TTFB",
    "e2e_latency": "e2e (LiveKit, VAD anchor)",
    "true_wait_s": "true wait",
    "llm_tokens_per_s": "LLM tokens/s",
}


def _fig(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if metric == "llm_tokens_per_s" else f"{value:.3f}"


@calls_app.command("stats")
def stats_command(
    since: Since = None,
    outcome: OutcomeOpt = None,
    channel: ChannelOpt = None,
    stack: Annotated[
        str | None,
        typer.Option("--stack", help="Only calls on this stack (e.g. economy, premium)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Latency p50/p95 (first turn and later turns apart), cost per call and per hour,
    outcomes, and the seed's latency table per stack."""
    _consoles()
    since_at, outcome_, channel_ = _filters(since, outcome, channel)
    reports = _load(database_url, since_at, outcome_, channel_, ALL)
    if stack is not None:
        reports = [r for r in reports if r.get("stack") == stack.strip()]
    if not reports:
        if as_json:
            typer.echo(json.dumps({**stats.summarize([]).to_json(), "vs_plan": []}))
        _nothing(since_at, outcome_, channel_, to=err if as_json else out)
        return
    summary = stats.summarize(reports)
    checks = compare_to_plan(reports)
    if as_json:
        vs_plan = [c.model_dump() for c in checks]
        typer.echo(json.dumps({**summary.to_json(), "vs_plan": vs_plan}))
        return

    described = _describe_filters(since_at, outcome_, channel_)
    out.print(
        f"[bold]{summary.calls} calls[/], {summary.call_hours:.2f} h of call time"
        + (f" ({described})" if described else "")
    )
    if summary.priced_calls:
        cpc = summary.cost_per_call
        estimated = (
            f", {summary.estimated_calls} estimated from the words spoken"
            if summary.estimated_calls
            else ""
        )
        out.print(
            f"cost {_usd(summary.cost_usd, 2)} over {summary.priced_calls} priced calls"
            f"{estimated}; per call p50 {_usd(cpc.p50)}, "
            f"mean {_usd(summary.cost_usd / summary.priced_calls)}, p95 {_usd(cpc.p95)}; "
            f"per hour of call time {_usd(summary.cost_per_hour, 2)}"
        )
    else:
        out.print("cost: no call is priced")
    out.print("outcomes: " + ", ".join(f"{k} {v}" for k, v in summary.outcomes.items()))
    out.print("channels: " + ", ".join(f"{k} {v}" for k, v in summary.channels.items()))

    table = Table(title="latency, seconds", title_justify="left", header_style="bold")
    table.add_column("metric")
    for part in ("first", "later"):
        for what in ("p50", "p95", "n"):
            table.add_column(f"{part} {what}", justify="right")
    for metric, lat in summary.latency.items():
        if lat.first.n == 0 and lat.later.n == 0:
            continue
        table.add_row(
            _METRIC_LABELS[metric],
            _fig(lat.first.p50, metric),
            _fig(lat.first.p95, metric),
            str(lat.first.n),
            _fig(lat.later.p50, metric),
            _fig(lat.later.p95, metric),
            str(lat.later.n),
        )
    if table.row_count:
        out.print(table)
    else:
        out.print("[dim]no per-turn latency recorded (text rehearsals measure only the LLM)[/]")

    seed = Table(
        title="by stack, in the seed's latency table (min-max)",
        title_justify="left",
        header_style="bold",
    )
    for name in ("stack", "calls", "TTFT first", "TTFT next", "TTS TTFB", "first byte (e2e)"):
        seed.add_column(name, justify="left" if name == "stack" else "right")
    seed.add_column("tokens/s", justify="right")
    for row in summary.by_stack:
        seed.add_row(*(escape(str(row[c])) for c in stats.SEED_COLUMNS))
    out.print(seed)
    out.print(
        "[dim]first = each call's first measured turn (it pays for the whole prompt); "
        "e2e/first byte is LiveKit's, from the VAD's end-of-speech estimate (~100 ms after the "
        "caller really stopped).[/]"
    )
    for plan_table in plan_tables(checks):
        out.print(plan_table)
    if len(summary.stacks) > 1:
        out.print(
            f"[dim]The latency table mixes {len(summary.stacks)} stacks "
            f"({', '.join(summary.stacks)}); --stack NAME shows one.[/]"
        )
