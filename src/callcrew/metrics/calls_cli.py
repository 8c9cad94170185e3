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
from callcrew.cli_boundary import DatabaseUrl, command_group, settings_or_exit
from callcrew.crews import known_outcomes
from callcrew.metrics import csv_export, stats
from callcrew.metrics.calls_format import cost_cell, duration, secs, when
from callcrew.metrics.calls_show import print_call
from callcrew.metrics.calls_stats_view import print_stats
from callcrew.metrics.plan_check import compare_to_plan
from callcrew.metrics.report import mask_number
from callcrew.redact import mask_urls
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


calls_app = command_group(
    "calls", "Look back at calls: list, show one, export, and latency/cost statistics."
)


def register(app: typer.Typer) -> None:
    from callcrew.metrics import analysis_cli

    analysis_cli.register(calls_app)
    app.add_typer(calls_app, name="calls")


class ExportFormat(enum.StrEnum):
    JSON = "json"
    CSV = "csv"


# --- options shared by the commands ----------------------------------------------------------

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
    # the message quotes what was typed, and a pasted database URL carries its password
    return typer.BadParameter(mask_urls(message), param_hint=f"'{option}'")


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
    settings = settings_or_exit(database_url)
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
            when(r.get("started_at")),
            str(r.get("call_id")),
            str(r.get("channel") or "-"),
            mask_number(r.get("caller_number")) or "-",
            duration(r.get("duration_s")),
            str(r.get("outcome") or "-"),
            cost_cell(r),
            secs(stats.call_percentile(r, "e2e_latency")),
        )
    out.print(table)
    more = " (--limit reached)" if len(reports) == limit else ""
    out.print(
        f"[dim]{len(reports)} calls, newest first{more}. ~ = cost estimated from the words "
        "spoken (text rehearsal); e2e is LiveKit's, from the VAD's end-of-speech estimate.[/]"
    )


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
    print_call(out, report, unmask=unmask)


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
        writer = csv.DictWriter(buffer, fieldnames=csv_export.CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in reports:
            writer.writerow(csv_export.flat_row(r, mask=mask_numbers))
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
    print_stats(out, summary, checks, _describe_filters(since_at, outcome_, channel_))
