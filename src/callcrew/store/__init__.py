"""The store: customers, appointments, call reports and the outbox, in SQLite or Postgres.

    store = open_store("sqlite:///var/callcrew.db")
    customer = store.customers.get_or_create("Ada", "+15551234567")
    store.appointments.book(customer.id, "haircut", start, end)

Everything here is synchronous and returns frozen records; async code calls it through
`asyncio.to_thread`. Booking is atomic across threads and processes (see `engine`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType

from callcrew.store.engine import SCHEMA_VERSION, make_engine, migrate, normalise_url
from callcrew.store.errors import (
    AppointmentNotActive,
    AppointmentNotFound,
    CustomerExists,
    CustomerNotFound,
    SchemaTooNew,
    SlotTaken,
    StoreBusy,
    StoreError,
    StoreNotFound,
    StoreUnavailable,
    ValueTooLong,
)
from callcrew.store.outbox import PARKED_UNTIL, OutboxRecord, OutboxRepository
from callcrew.store.repositories import (
    AppointmentRecord,
    AppointmentRepository,
    CustomerRecord,
    CustomerRepository,
    ReportRepository,
    Sessions,
)

__all__ = [
    "PARKED_UNTIL",
    "SCHEMA_VERSION",
    "AppointmentNotActive",
    "AppointmentNotFound",
    "AppointmentRecord",
    "CustomerExists",
    "CustomerNotFound",
    "CustomerRecord",
    "OutboxRecord",
    "SchemaTooNew",
    "SlotTaken",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoreNotFound",
    "StoreUnavailable",
    "ValueTooLong",
    "make_engine",
    "migrate",
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
    ) -> None:
        # `clock` stamps created_at/updated_at; rehearsals pass their frozen clock.
        clock = clock or _utcnow
        self.url = normalise_url(url)
        self.read_only = read_only
        self.engine = make_engine(url, read_only=read_only)
        sessions = Sessions(self.engine)
        self.customers = CustomerRepository(sessions, clock)
        self.appointments = AppointmentRepository(sessions, clock)
        self.reports = ReportRepository(sessions)
        self.outbox = OutboxRepository(sessions, clock)

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
    url: str, *, clock: Callable[[], datetime] | None = None, read_only: bool = False
) -> Store:
    """Open (creating if needed) the database at a SQLAlchemy URL, schema up to date.

    `read_only`: open an existing store without migrating or locking (StoreNotFound if none).
    """
    return Store(url, clock=clock, read_only=read_only)
