"""The store: call reports, the outbox and the active crew's tables, in SQLite or Postgres.

    store = open_store("sqlite:///var/callcrew.db")          # the crew's tables too (CREW)
    store.reports.save(report)

Everything here is synchronous and returns frozen records; async code calls it through
`asyncio.to_thread`. Write transactions are serialised across threads and processes (see
`engine`); the schema is migrated with Alembic on open (`migrate`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from callcrew.store.engine import make_engine, normalise_url
from callcrew.store.errors import (
    SchemaTooNew,
    StoreBusy,
    StoreError,
    StoreNotFound,
    StoreUnavailable,
    ValueTooLong,
)
from callcrew.store.outbox import PARKED_UNTIL, OutboxRecord, OutboxRepository
from callcrew.store.repositories import ReportRepository, Sessions

if TYPE_CHECKING:
    from callcrew.call import CrewTables
    from callcrew.crews import LoadedCrew

__all__ = [
    "PARKED_UNTIL",
    "OutboxRecord",
    "SchemaTooNew",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoreNotFound",
    "StoreUnavailable",
    "ValueTooLong",
    "make_engine",
    "open_store",
]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Store:
    """One database, its repositories, and `close()`. Safe to share between threads."""

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], datetime] | None = None,
        read_only: bool = False,
        tables: Sequence[CrewTables] = (),
    ) -> None:
        # `clock` stamps created_at/updated_at; rehearsals pass their frozen clock.
        clock = clock or _utcnow
        self.url = normalise_url(url)
        self.read_only = read_only
        self.tables = tuple(tables)
        self.engine = make_engine(url, read_only=read_only, tables=self.tables)
        self.sessions = Sessions(self.engine)
        self.reports = ReportRepository(self.sessions)
        self.outbox = OutboxRepository(self.sessions, clock)
        # The crew's repositories (`CrewTables.repositories`), for its agents and hooks.
        self.crew_data: Any = None
        for t in self.tables:
            if t.repositories is not None:
                self.crew_data = t.repositories(self.sessions, clock)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_store(
    url: str,
    *,
    clock: Callable[[], datetime] | None = None,
    read_only: bool = False,
    crew: LoadedCrew | str | None = None,
) -> Store:
    """Open (creating if needed) the database at a SQLAlchemy URL, schema up to date: the
    engine's tables and the crew's (`crew`: loaded, a name, or None for $CREW or "default").

    `read_only`: open an existing store without migrating or locking (StoreNotFound if none).
    """
    from callcrew.crews import load_crew

    if crew is None or isinstance(crew, str):
        crew = load_crew(crew or os.environ.get("CREW") or "default")
    tables = [crew.tables] if crew.tables is not None else []
    return Store(url, clock=clock, read_only=read_only, tables=tables)
