"""The desk's data in the engine's store: customers, appointments, atomic booking.

    data = desk_data(store)
    customer = data.customers.get_or_create("Ada", "+15551234567")
    data.appointments.book(customer.id, "haircut", start, end)

Its tables are on the desk's own DeclarativeBase and migrated on the `desk` Alembic branch
(`migrations/`), beside the engine's; `TABLES` is what the crew declares (`Crew.tables`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agents.desk_store.errors import (
    AppointmentNotActive,
    AppointmentNotFound,
    CustomerExists,
    CustomerNotFound,
    SlotTaken,
)
from agents.desk_store.models import DeskBase
from agents.desk_store.repositories import (
    AppointmentRecord,
    AppointmentRepository,
    Clock,
    CustomerRecord,
    CustomerRepository,
)
from callcrew.call import CrewTables
from callcrew.store import Store
from callcrew.store.repositories import Sessions

__all__ = [
    "TABLES",
    "AppointmentNotActive",
    "AppointmentNotFound",
    "AppointmentRecord",
    "CustomerExists",
    "CustomerNotFound",
    "CustomerRecord",
    "DeskData",
    "SlotTaken",
    "desk_data",
]


@dataclass(frozen=True)
class DeskData:
    """The desk's repositories over one store."""

    customers: CustomerRepository
    appointments: AppointmentRepository


def _open(sessions: Sessions, clock: Clock) -> DeskData:
    return DeskData(CustomerRepository(sessions, clock), AppointmentRepository(sessions, clock))


TABLES = CrewTables(
    metadata=DeskBase.metadata,
    migrations=Path(__file__).parent / "migrations",
    branch="desk",
    repositories=_open,
)


def desk_data(store: Store) -> DeskData:
    """The desk's repositories of `store` (opened with this crew's tables)."""
    data = store.crew_data
    if not isinstance(data, DeskData):
        raise LookupError("this store was opened without the desk's tables (CREW?)")
    return data
