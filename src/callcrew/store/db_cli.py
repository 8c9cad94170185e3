"""`callcrew db status | upgrade`: where the store's schema is, per owner, and bring it up.

Every worker and `simulate` run upgrades the store when it opens it; these are for operators
who want to see or do that step on its own (before a deploy, on a read-only replica).
"""

from __future__ import annotations

import typer
from sqlalchemy.exc import SQLAlchemyError

from callcrew.cli_boundary import DatabaseUrl, command_group, fail, settings_or_exit
from callcrew.crews import CrewNotFound, load_crew
from callcrew.settings import Settings
from callcrew.store import StoreError, migrate, open_store
from callcrew.store.engine import shown_url

db_app = command_group(
    "db", "The store's schema: each owner's migration revision, and upgrading it."
)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


def _rows(settings: Settings, *, read_only: bool) -> list[tuple[str, str, str]]:
    try:
        crew = load_crew(settings.crew)
        with open_store(settings.database_url, read_only=read_only, crew=crew) as store:
            return migrate.status(store.engine, store.tables)
    except CrewNotFound as exc:
        raise fail(str(exc)) from None
    except (StoreError, SQLAlchemyError) as exc:
        raise fail(f"{shown_url(settings.database_url)}: {exc}", 1) from None


def _print(rows: list[tuple[str, str, str]]) -> bool:
    behind = False
    for branch, found, head in rows:
        state = "up to date" if found == head else "needs upgrade"
        behind = behind or found != head
        typer.echo(f"{branch:<12} {found:<16} head {head:<16} {state}")
    return behind


@db_app.command("status")
def status(database_url: DatabaseUrl = None) -> None:
    """Each owner's revision in the store and its head (reads only; exit 1 when behind)."""
    if _print(_rows(settings_or_exit(database_url), read_only=True)):
        raise typer.Exit(1)


@db_app.command("upgrade")
def upgrade(database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the store: the engine's tables and the crew's (CREW), to their heads."""
    _print(_rows(settings_or_exit(database_url), read_only=False))
