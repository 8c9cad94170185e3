"""The desk's repositories: customers, and appointments booked atomically.

Synchronous, one short transaction per call, frozen records out; async tools call them through
`asyncio.to_thread`. A booking's overlap check and insert run in one engine write transaction
(BEGIN IMMEDIATE on SQLite, the advisory lock on Postgres), so two calls cannot both take a slot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agents.desk_store.errors import (
    AppointmentNotActive,
    AppointmentNotFound,
    CustomerExists,
    CustomerNotFound,
    SlotTaken,
)
from agents.desk_store.models import Appointment, Customer
from callcrew.phone import is_e164
from callcrew.store.repositories import Sessions, aware

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


def _interval(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = aware(start, "start"), aware(end, "end")
    if end <= start:
        raise ValueError(f"an appointment must end after it starts ({start} .. {end})")
    return start, end


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
                Appointment.start_at >= aware(upcoming_after, "upcoming_after"),
            )
        with self._s.read() as s:
            rows = s.scalars(query.order_by(Appointment.start_at, Appointment.id))
            return [_appointment(r) for r in rows]

    def busy_between(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Booked intervals overlapping [start, end), earliest first, as aware UTC pairs."""
        start, end = aware(start, "start"), aware(end, "end")
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
