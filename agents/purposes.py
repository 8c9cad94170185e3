"""The desk's outbound purposes: reminder and confirm calls about one appointment.

`dial --purpose reminder --data appointment_id=42` (or a CSV `appointment_id` column) fills the
purpose's data; `check_dispatch` refuses an appointment the store does not have before anything
is dispatched, and `open_outbound` reads the purpose and data back when the job opens the call.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agents.calldata import CallData
from agents.desk_profile import desk
from agents.desk_store import desk_data
from agents.scheduling import Slot, describe_slot
from callcrew.call import CallInfo, Purpose
from callcrew.errors import UserError
from callcrew.ids import parse_id
from callcrew.store import Store


class AppointmentCall(BaseModel):
    """A call about one appointment; other fields (campaign columns) ride along for the crew."""

    model_config = ConfigDict(extra="allow")
    appointment_id: int = Field(ge=1, description="the appointment the call is about")
    message: str | None = Field(None, description="a line for the opening")

    @field_validator("appointment_id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> Any:
        # Typed by people (--data, CSV cells): the strict id rules, not int()'s leniency.
        return parse_id(v, "appointment id") if isinstance(v, str) else v


DESK_PURPOSES: tuple[Purpose, ...] = (
    Purpose("reminder", "reminds the customer of an appointment", AppointmentCall),
    Purpose("confirm", "asks to confirm an appointment (key 1) or move it (2)", AppointmentCall),
)
_ABOUT_AN_APPOINTMENT = {p.name for p in DESK_PURPOSES}


def check_dispatch(store: Store, purpose: str, data: BaseModel) -> None:
    """Before `dial` dispatches: the appointment a reminder or confirmation is about exists."""
    if purpose not in _ABOUT_AN_APPOINTMENT or not isinstance(data, AppointmentCall):
        return
    if desk_data(store).appointments.get(data.appointment_id) is None:
        raise UserError(
            f"appointment {data.appointment_id} does not exist in the store (DATABASE_URL)"
        )


async def open_outbound(state: CallData, info: CallInfo) -> None:
    """Why we called and about which appointment, from the dispatch's purpose and data."""
    meta = info.metadata
    state.purpose = str(meta.get("purpose") or "custom")
    raw = meta.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if isinstance(data.get("message"), str):
        state.custom_text = data["message"]
    if state.purpose not in _ABOUT_AN_APPOINTMENT:
        return
    try:
        about = AppointmentCall.model_validate(data)
    except ValidationError:
        return  # dial validated it; a hand-made dispatch without one is a call about nothing
    data_of = desk_data(state.store)
    appt = await asyncio.to_thread(data_of.appointments.get, about.appointment_id)
    if appt is None or (state.customer_id is not None and appt.customer_id != state.customer_id):
        # Never read out someone else's appointment to whoever picked up.
        return
    if state.customer_id is None:
        customer = await asyncio.to_thread(data_of.customers.get, appt.customer_id)
        if customer is not None:
            state.customer_id, state.customer_name = customer.id, customer.name
    service = desk(state.profile).service(appt.service_id)
    label = service.name.lower() if service else appt.service_id
    when = describe_slot(state.profile, Slot(appt.start, appt.end), state.now())
    state.appointment_id = appt.id
    state.appointment_text = f"{label} appointment on {when}"
