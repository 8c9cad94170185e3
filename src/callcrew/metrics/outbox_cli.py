"""`callcrew outbox list | retry`: see what has not reached the CRM, and re-drive it.

A delivery that used up CRM_WEBHOOK_MAX_ATTEMPTS is parked (kept, never retried on its own):
after a long CRM outage, `callcrew outbox retry --all` gives every parked report a fresh set of
tries and sends them now. Plain text output: report data is never parsed as markup.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from callcrew.cli_boundary import DatabaseUrl, command_group, fail, settings_or_exit
from callcrew.metrics.webhook import KIND, retry_outbox, webhook_problems
from callcrew.settings import Settings
from callcrew.store import OutboxRecord, Store, StoreError, open_store

outbox_app = command_group(
    "outbox", "Deliveries waiting for the CRM webhook: list them, re-drive parked ones."
)


def register(app: typer.Typer) -> None:
    app.add_typer(outbox_app, name="outbox")


def _open(settings: Settings) -> Store:
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    try:
        return open_store(settings.database_url, crew=settings.crew)
    except (StoreError, SQLAlchemyError, ImportError) as exc:
        raise fail(f"Cannot open the store at {shown}: {exc}", 1) from None


def _state(item: OutboxRecord, now: datetime) -> str:
    if item.parked:
        return "parked"
    if item.next_attempt_at <= now:
        return "due"
    return f"next {item.next_attempt_at:%Y-%m-%d %H:%M:%S}"


def _row(item: OutboxRecord, now: datetime) -> str:
    call_id = str(item.payload.get("call_id", "-"))
    error = (item.last_error or "-").replace("\n", " ")
    return (
        f"{item.id:>6}  {call_id:<24}  {item.attempts:>8}  {_state(item, now):<25}  "
        f"{item.created_at:%Y-%m-%d %H:%M}  {error}"
    )


@outbox_app.command("list")
def list_items(
    parked: Annotated[bool, typer.Option("--parked", help="Only parked deliveries.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000)] = 100,
    database_url: DatabaseUrl = None,
) -> None:
    """Undelivered CRM reports, oldest first: attempts, when next tried, the last error."""
    settings = settings_or_exit(database_url)
    with _open(settings) as store:
        items = store.outbox.list(state="parked" if parked else "pending", limit=limit, kind=KIND)
    if not items:
        typer.echo("No parked deliveries." if parked else "Nothing waiting: every report went.")
        return
    now = datetime.now(UTC)
    typer.echo(
        f"{'id':>6}  {'call':<24}  {'attempts':>8}  {'state':<25}  {'queued (UTC)':<16}  last error"
    )
    for item in items:
        typer.echo(_row(item, now))
    n_parked = sum(1 for i in items if i.parked)
    typer.echo(f"{len(items)} undelivered, {n_parked} parked (re-drive: callcrew outbox retry)")


@outbox_app.command("retry")
def retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Outbox ids (see `outbox list`).")] = None,
    all_parked: Annotated[bool, typer.Option("--all", help="Every parked delivery.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Make deliveries due now with a fresh set of tries, and send them if the CRM is set."""
    if not ids and not all_parked:
        raise fail("Name the outbox ids to retry, or pass --all for every parked delivery.")
    if ids and all_parked:
        raise fail("Give outbox ids or --all, not both.")
    if ids and any(i < 1 for i in ids):
        raise fail("Outbox ids are positive whole numbers (see `callcrew outbox list`).")
    settings = settings_or_exit(database_url)
    if problems := webhook_problems(settings):
        raise fail("\n".join(problems))
    with _open(settings) as store:
        now = datetime.now(UTC)
        requeued = store.outbox.requeue(now, ids=None if all_parked else list(ids or []))
        if not requeued:
            typer.echo("Nothing to retry: no such undelivered item." if ids else "Nothing parked.")
            return
        if not settings.crm_webhook_url:
            typer.echo(
                f"Requeued {requeued}. CRM_WEBHOOK_URL is not set here: a worker sends them "
                "on its next outbox round."
            )
            return
        delivered = asyncio.run(_drive(store, settings))
        left = len(store.outbox.list(state="pending", kind=KIND, limit=100_000))
    typer.echo(f"Requeued {requeued}, delivered {delivered} now; {left} still undelivered.")
    if delivered < requeued:
        raise typer.Exit(1)  # the CRM is still refusing or down: scripts can tell


async def _drive(store: Store, settings: Settings) -> int:
    """Rounds until one delivers nothing (everything went, or the CRM is still down)."""
    total = 0
    while True:
        sent = await retry_outbox(store, settings)
        total += sent
        if sent == 0:
            return total
