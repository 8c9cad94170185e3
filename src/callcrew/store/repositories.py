"""Repositories: synchronous, one short transaction per call, frozen records out.

Async agent tools call these through `asyncio.to_thread`. ORM objects never leave this module,
so nothing outside can lazy-load on a closed session or mutate a row by accident.
"""

from __future__ import annotations

import builtins
import contextlib
import enum
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import PurePath
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from callcrew.phone import is_e164
from callcrew.store.engine import WRITE, is_memory, lock_for_write
from callcrew.store.errors import (
    AppointmentNotActive,
    AppointmentNotFound,
    CustomerExists,
    CustomerNotFound,
    SlotTaken,
    StoreBusy,
)
from callcrew.store.limits import check_lengths
from callcrew.store.models import Appointment, CallReportRow, Customer

Clock = Callable[[], datetime]

BOOKED = "booked"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class CustomerRecord:
    id: int
    name: str
    phone: str | None
    created_at: datetime


@dataclass(frozen=True)
class AppointmentRecord:
    id: int
    customer_id: int
    service_id: str
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC
    status: str  # "booked" | "cancelled"
    call_id: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.status == BOOKED


def _customer(row: Customer) -> CustomerRecord:
    return CustomerRecord(id=row.id, name=row.name, phone=row.phone, created_at=row.created_at)


def _appointment(row: Appointment) -> AppointmentRecord:
    return AppointmentRecord(
        id=row.id,
        customer_id=row.customer_id,
        service_id=row.service_id,
        start=row.start_at,
        end=row.end_at,
        status=row.status,
        call_id=row.call_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value.isoformat()}")
    return value.astimezone(UTC)


def _interval(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = _aware(start, "start"), _aware(end, "end")
    if end <= start:
        raise ValueError(f"an appointment must end after it starts ({start} .. {end})")
    return start, end


class Sessions:
    """Short transactions against one engine, split into reads and writes.

    Writes run on connections marked `WRITE`, which on SQLite begin with BEGIN IMMEDIATE and on
    Postgres take the advisory lock, so a check-then-write inside one is atomic. An in-memory
    SQLite database is a single shared connection, so there every transaction is serialised
    by a lock in this process instead.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(
            engine.execution_options(**{WRITE: True}), expire_on_commit=False
        )
        self._guard: threading.RLock | None = threading.RLock() if is_memory(engine) else None

    @contextlib.contextmanager
    def _guarded(self) -> Iterator[None]:
        if self._guard is None:
            yield
        else:
            with self._guard:
                yield

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with self._guarded(), self._read() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        try:
            with self._guarded(), self._write() as session, session.begin():
                lock_for_write(session.connection())
                yield session
        except OperationalError as exc:
            # SQLite gave up waiting for the write lock (busy_timeout): nothing was written.
            if "locked" in str(exc.orig):
                raise StoreBusy() from exc
            raise


class CustomerRepository:
    def __init__(self, sessions: Sessions, clock: Clock) -> None:
        self._s = sessions
        self._clock = clock

    def get(self, customer_id: int) -> CustomerRecord | None:
        with self._s.read() as s:
            row = s.get(Customer, customer_id)
            return _customer(row) if row else None

    def find_by_phone(self, phone: str) -> CustomerRecord | None:
        with self._s.read() as s:
            row = s.scalars(select(Customer).where(Customer.phone == phone.strip())).first()
            return _customer(row) if row else None

    def create(self, name: str, phone: str | None = None) -> CustomerRecord:
        name = _clean_name(name)
        phone = _clean_phone(phone)
        try:
            with self._s.write() as s:
                row = Customer(name=name, phone=phone, created_at=self._clock())
                s.add(row)
                s.flush()
                return _customer(row)
        except IntegrityError:
            raise CustomerExists() from None

    def get_or_create(self, name: str, phone: str) -> CustomerRecord:
        """The customer with this phone, created with `name` if new (an existing name is kept)."""
        phone_ = _clean_phone(phone)
        assert phone_ is not None
        found = self.find_by_phone(phone_)
        if found:
            return found
        try:
            return self.create(name, phone_)
        except CustomerExists:
            # Another call from the same number created it between our read and write.
            again = self.find_by_phone(phone_)
            if again is None:
                raise
            return again

    def all(self) -> list[CustomerRecord]:
        with self._s.read() as s:
            return [_customer(r) for r in s.scalars(select(Customer).order_by(Customer.id))]

    def rename(self, customer_id: int, name: str) -> CustomerRecord:
        name = _clean_name(name)
        with self._s.write() as s:
            row = s.get(Customer, customer_id)
            if row is None:
                raise CustomerNotFound()
            row.name = name
            s.flush()
            return _customer(row)


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValueError("a customer needs a name")
    return cleaned


def _clean_phone(phone: str | None) -> str | None:
    if phone is None:
        return None
    cleaned = phone.strip()
    if not is_e164(cleaned):
        raise ValueError(f"{phone!r} is not an E.164 phone number like +15551234567")
    return cleaned


class AppointmentRepository:
    def __init__(self, sessions: Sessions, clock: Clock) -> None:
        self._s = sessions
        self._clock = clock

    @staticmethod
    def _overlapping(
        s: Session, start: datetime, end: datetime, ignore_id: int | None = None
    ) -> bool:
        query = select(Appointment.id).where(
            Appointment.status == BOOKED,
            Appointment.start_at < end,
            Appointment.end_at > start,
        )
        if ignore_id is not None:
            query = query.where(Appointment.id != ignore_id)
        return s.execute(query.limit(1)).first() is not None

    @staticmethod
    def _owned(s: Session, appointment_id: int, customer_id: int) -> Appointment:
        row = s.get(Appointment, appointment_id)
        # Someone else's appointment is reported exactly like a missing one, so a caller
        # cannot probe which ids exist.
        if row is None or row.customer_id != customer_id:
            raise AppointmentNotFound()
        return row

    def book(
        self,
        customer_id: int,
        service_id: str,
        start: datetime,
        end: datetime,
        call_id: str | None = None,
    ) -> AppointmentRecord:
        """Book [start, end) unless any booked appointment overlaps it (then `SlotTaken`)."""
        start, end = _interval(start, end)
        with self._s.write() as s:
            if s.get(Customer, customer_id) is None:
                raise CustomerNotFound()
            if self._overlapping(s, start, end):
                raise SlotTaken()
            now = self._clock()
            row = Appointment(
                customer_id=customer_id,
                service_id=service_id,
                start_at=start,
                end_at=end,
                status=BOOKED,
                call_id=call_id,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            return _appointment(row)

    def reschedule(
        self, appointment_id: int, customer_id: int, start: datetime, end: datetime
    ) -> AppointmentRecord:
        start, end = _interval(start, end)
        with self._s.write() as s:
            row = self._owned(s, appointment_id, customer_id)
            if row.status != BOOKED:
                raise AppointmentNotActive()
            if self._overlapping(s, start, end, ignore_id=row.id):
                raise SlotTaken()
            row.start_at, row.end_at = start, end
            row.updated_at = self._clock()
            s.flush()
            return _appointment(row)

    def cancel(self, appointment_id: int, customer_id: int) -> AppointmentRecord:
        with self._s.write() as s:
            row = self._owned(s, appointment_id, customer_id)
            if row.status != BOOKED:
                raise AppointmentNotActive()
            row.status = CANCELLED
            row.updated_at = self._clock()
            s.flush()
            return _appointment(row)

    def get(self, appointment_id: int) -> AppointmentRecord | None:
        with self._s.read() as s:
            row = s.get(Appointment, appointment_id)
            return _appointment(row) if row else None

    def for_customer(
        self, customer_id: int, *, upcoming_after: datetime | None = None
    ) -> list[AppointmentRecord]:
        """All of a customer's appointments by start time; with `upcoming_after`, only the
        booked ones starting at or after it."""
        query = select(Appointment).where(Appointment.customer_id == customer_id)
        if upcoming_after is not None:
            query = query.where(
                Appointment.status == BOOKED,
                Appointment.start_at >= _aware(upcoming_after, "upcoming_after"),
            )
        with self._s.read() as s:
            rows = s.scalars(query.order_by(Appointment.start_at, Appointment.id))
            return [_appointment(r) for r in rows]

    def busy_between(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Booked intervals overlapping [start, end), earliest first, as aware UTC pairs."""
        start, end = _aware(start, "start"), _aware(end, "end")
        query = (
            select(Appointment.start_at, Appointment.end_at)
            .where(
                Appointment.status == BOOKED,
                Appointment.start_at < end,
                Appointment.end_at > start,
            )
            .order_by(Appointment.start_at)
        )
        with self._s.read() as s:
            return [(a, b) for a, b in s.execute(query)]

    def all(self) -> list[AppointmentRecord]:
        with self._s.read() as s:
            rows = s.scalars(select(Appointment).order_by(Appointment.start_at, Appointment.id))
            return [_appointment(r) for r in rows]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable in a call report")


def _parse_time(value: Any, key: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"report[{key!r}] is not an ISO time: {value!r}") from None
    else:
        raise ValueError(f"report[{key!r}] must be an ISO time string, got {type(value).__name__}")
    # Reports are written by our own code in UTC; a naive time is taken to be UTC.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _stack_name(value: Any) -> str | None:
    text = _opt_str(value)
    return None if text is None else text.split(":", 1)[0].strip()[:64] or None


class ReportRepository:
    """Call reports: the whole report as JSON plus a few columns to filter on."""

    def __init__(self, sessions: Sessions) -> None:
        self._s = sessions

    def save(self, report: dict[str, Any]) -> None:
        """Insert or replace the report with this `call_id`."""
        call_id = report.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            raise ValueError("a call report needs a non-empty string call_id")
        # Round-trip through JSON so the stored document is exactly what `get` returns.
        document: dict[str, Any] = json.loads(json.dumps(report, default=_json_default))
        values: dict[str, Any] = {
            "call_id": call_id,
            "room": _opt_str(report.get("room")),
            "channel": _opt_str(report.get("channel")),
            "caller_number": _opt_str(report.get("caller_number")),
            "started_at": _parse_time(report.get("started_at"), "started_at"),
            "ended_at": _parse_time(report.get("ended_at"), "ended_at"),
            "outcome": _opt_str(report.get("outcome")),
            # The report's stack is a description ("economy: STT deepgram/nova-3, LLM ..."); the
            # column keeps the stack's name (VARCHAR(64), which Postgres enforces).
            "stack": _stack_name(report.get("stack")),
            "report": document,
        }
        check_lengths(CallReportRow.__table__, values)  # type: ignore[arg-type]
        with self._s.write() as s:
            dialect = s.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            stmt = insert(CallReportRow).values(**values)
            updates = {k: stmt.excluded[k] for k in values if k != "call_id"}
            s.execute(stmt.on_conflict_do_update(index_elements=["call_id"], set_=updates))

    def get(self, call_id: str) -> dict[str, Any] | None:
        with self._s.read() as s:
            row = s.get(CallReportRow, call_id)
            return dict(row.report) if row else None

    def list(
        self,
        since: datetime | None = None,
        outcome: str | None = None,
        limit: int = 100,
        *,
        channel: str | None = None,
    ) -> builtins.list[dict[str, Any]]:
        """Reports newest first; `since` compares with the call's start time."""
        query = select(CallReportRow.report)
        if since is not None:
            query = query.where(CallReportRow.started_at >= _aware(since, "since"))
        if outcome is not None:
            query = query.where(CallReportRow.outcome == outcome)
        if channel is not None:
            query = query.where(CallReportRow.channel == channel)
        query = query.order_by(
            CallReportRow.started_at.desc().nulls_last(), CallReportRow.call_id
        ).limit(max(0, limit))
        with self._s.read() as s:
            return [dict(doc) for doc in s.scalars(query)]
