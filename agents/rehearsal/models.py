"""The desk's scenario keys: the `data:` it seeds and what `expect:` may say about appointments."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from callcrew.phone import require_e164

ACTION_NAMES = ("booked", "moved", "cancelled", "listed", "message_taken", "transferred")
# Near datetime.max times overflow once converted between zones; a rehearsal stays in range.
_EARLIEST, _LATEST = datetime(1970, 1, 1), datetime(9000, 1, 1)


def _in_range(v: datetime) -> datetime:
    if not _EARLIEST <= v.replace(tzinfo=None) < _LATEST:
        raise ValueError(f"must be between {_EARLIEST:%Y-%m-%d} and {_LATEST:%Y-%m-%d}")
    return v


class SeedCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    phone: str | None = None

    @field_validator("phone")
    @classmethod
    def _e164(cls, v: str | None) -> str | None:
        return None if v is None else require_e164(v)


class SeedAppointment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer: str = Field(description="phone or name of a seeded customer")
    service: str
    start: datetime = Field(description="local time at the business")
    status: Literal["booked", "cancelled"] = "booked"

    _range = field_validator("start")(_in_range)


class SeedData(BaseModel):
    """A scenario's `data:` for the desk."""

    model_config = ConfigDict(extra="forbid")
    customers: list[SeedCustomer] = Field(default_factory=list)
    appointments: list[SeedAppointment] = Field(default_factory=list)
    # From LiveKit's frontdesk scenarios: the only free start times of the calendar.
    available_slots: list[datetime] | None = Field(
        None, description="the only free start times (local); [] means fully booked"
    )

    @model_validator(mode="after")
    def _customers_known(self) -> SeedData:
        seen: dict[str, int] = {}
        for i, c in enumerate(self.customers):
            if c.phone is not None and c.phone in seen:
                raise ValueError(
                    f"customers[{i}]: phone {c.phone} is already customers[{seen[c.phone]}]'s "
                    "(one customer per phone number)"
                )
            if c.phone is not None:
                seen[c.phone] = i
        known = {c.phone for c in self.customers} | {c.name for c in self.customers}
        for appt in self.appointments:
            if appt.customer not in known:
                raise ValueError(f"appointments: unknown customer {appt.customer!r}")
        return self


class ExpectedAppointment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer: str | None = Field(None, description="phone (E.164) or name of the customer")
    service: str | None = None
    start: datetime = Field(description="local time at the business, e.g. 2026-06-16T09:30")
    status: Literal["booked", "cancelled"] = "booked"


class DeskStoreExpect(BaseModel):
    """The store's appointments and customers (also a `calls:` file's shared store)."""

    model_config = ConfigDict(extra="forbid")
    appointments: list[ExpectedAppointment] | None = Field(
        None, description="every appointment in the store"
    )
    customers: int | None = Field(None, ge=0, description="how many customers the store holds")


class DeskTurnExpect(DeskStoreExpect):
    actions: list[str] | None = Field(None, description="the call's actions so far, in order")

    @field_validator("actions")
    @classmethod
    def _known_actions(cls, v: list[str] | None) -> list[str] | None:
        unknown = sorted(set(v or []) - set(ACTION_NAMES))
        if unknown:
            raise ValueError(
                f"unknown action(s) {', '.join(unknown)}; actions are {', '.join(ACTION_NAMES)}"
            )
        return v


class DeskCallExpect(DeskTurnExpect):
    changes: list[str] | None = Field(
        None, description="substrings of the report's changes (crew.changes), in this order"
    )
    message_for_staff: str | None = Field(
        None, description="substring of the message taken for the team"
    )
    booked_on_call: list[datetime] | None = Field(
        None, description="start times (local) of the appointments booked on this call, exactly"
    )


def frontdesk_userdata(userdata: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """frontdesk's `userdata` keys (besides `now`) -> additions to `data:` and `expect:`."""
    leftover = set(userdata) - {"expected_booking", "available_slots"}
    if leftover:
        raise ValueError(f"userdata: unsupported key(s) {', '.join(sorted(leftover))}")
    data: dict[str, Any] = {}
    expect: dict[str, Any] = {}
    if "available_slots" in userdata:
        data["available_slots"] = userdata["available_slots"]
    if "expected_booking" in userdata:
        # frontdesk: "the single slot the agent must end up booking" (null: none).
        booking = userdata["expected_booking"]
        expect["booked_on_call"] = [] if booking is None else [booking]
    return data, expect
