"""The desk's tables: customers and their appointments, on the desk's own DeclarativeBase."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from callcrew.store.limits import guard_lengths
from callcrew.store.models import UTCDateTime


class DeskBase(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Customer(DeskBase):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32), unique=True)  # E.164
    created_at: Mapped[datetime]


class Appointment(DeskBase):
    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint("status IN ('booked', 'cancelled')", name="ck_appointments_status"),
        CheckConstraint("end_at > start_at", name="ck_appointments_order"),
        # The overlap check scans booked rows by time on every booking.
        Index("ix_appointments_status_start", "status", "start_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    service_id: Mapped[str] = mapped_column(String(64))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    call_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


guard_lengths(DeskBase)  # the same clear ValueTooLong as the engine's tables
