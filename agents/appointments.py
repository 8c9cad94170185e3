"""The appointment desk: finds free times, books, moves, cancels and lists appointments.

Every tool validates its arguments and raises ToolError with a sentence the model can relay to
the caller. The store does the booking in a transaction, so two callers never get one slot.
"""

from __future__ import annotations

import asyncio

from livekit.agents import Agent, RunContext, ToolError, function_tool

from agents import stages
from agents.actions import Action
from agents.availability import Availability, PartOfDay
from agents.base import CrewAgent
from agents.calldata import CallData
from agents.desk_profile import Service
from agents.desk_store import AppointmentNotActive, AppointmentNotFound, SlotTaken, desk_data
from agents.person import TRANSFER_PHRASE as TRANSFER_PHRASE  # bench/cost.py reads it here
from agents.person import PersonTools
from agents.scheduling import Slot, SlotError, describe_slot, parse_slot_id, validate_start


class AppointmentsAgent(PersonTools, CrewAgent):
    stage = "appointments"
    prompt = "appointments"
    job = "booking, moving or cancelling appointments"

    async def on_enter(self) -> None:
        await super().on_enter()
        # Continue from what the caller already told the receptionist; never re-ask.
        self.session.generate_reply()

    # --- helpers -------------------------------------------------------------------------------

    def _service(self, name: str) -> Service:
        service = self.state.desk.service(name)
        if service is None:
            offered = ", ".join(s.name for s in self.state.desk.services)
            raise ToolError(f"We don't offer {name!r}. We offer: {offered}.")
        return service

    def _customer_id(self) -> int:
        if self.state.customer_id is None:
            raise ToolError("I don't know who the caller is yet. Ask for their name.")
        return self.state.customer_id

    def _slot(self, service: Service, slot_id: str) -> Slot:
        try:
            start = parse_slot_id(self.state.profile, slot_id)
            return validate_start(self.state.profile, service, start, self.state.now())
        except SlotError as exc:
            raise ToolError(str(exc)) from None

    def _say(self, slot: Slot) -> str:
        return describe_slot(self.state.profile, slot, self.state.now())

    def _local_id(self, slot: Slot) -> str:
        return f"{slot.start.astimezone(self.state.profile.tz):%Y-%m-%dT%H:%M}"

    async def _refuse_taken(self, svc: Service, slot: Slot) -> ToolError:
        """A slot that is not free. Offered earlier: someone just took it. Never offered: the
        model made the id up (LiveKit's frontdesk refuses unlisted ids the same way). Either
        way the nearest free times come with the refusal, so the next reply can offer them."""
        avail = Availability(self.state)
        near = await avail.near(svc, slot.start.astimezone(self.state.profile.tz), None)
        alternatives = avail.nearby_text(near)
        if slot.id in self.state.offered_slots:
            return ToolError(
                f"{self._say(slot)} was just taken by someone else. Offer other free times. "
                + alternatives
            )
        return ToolError(
            f"{self._say(slot)} is not free, and it was never offered on this call: only book "
            f"times from find_free_slots. {alternatives}"
        )

    # --- tools ---------------------------------------------------------------------------------

    @function_tool
    async def find_free_slots(
        self,
        ctx: RunContext[CallData],
        service: str,
        day: str = "",
        time: str = "",
        part_of_day: PartOfDay = "any",
    ) -> str:
        """Find free appointment times, or check a time the caller named. Returns lines of
        `slot_id: spoken time`, with the reason when the asked time is not possible.

        Args:
            service: The service id or name, e.g. "haircut".
            day: A specific date as YYYY-MM-DD, or empty for the next free times.
            time: A time the caller named on that day, "14:00", or a window "13:00-15:00".
                Gives that slot if free, else the nearest free ones before and after it.
            part_of_day: Limit to the morning, afternoon or evening (when no time is given).
        """
        svc = self._service(service)
        return await Availability(ctx.userdata).answer(svc, day, time, part_of_day)

    @function_tool
    async def book_appointment(self, ctx: RunContext[CallData], service: str, slot_id: str) -> str:
        """Book the caller into a free slot the caller chose.

        Args:
            service: The service id or name.
            slot_id: The slot_id exactly as returned by find_free_slots.
        """
        svc = self._service(service)
        customer_id = self._customer_id()
        slot = self._slot(svc, slot_id)
        state = ctx.userdata
        try:
            appt = await asyncio.to_thread(
                desk_data(state.store).appointments.book,
                customer_id,
                svc.id,
                slot.start,
                slot.end,
                state.info.call_id,
            )
        except SlotTaken:
            raise await self._refuse_taken(svc, slot) from None
        state.booked_ids.append(appt.id)
        state.record_change(f"booked a {svc.name.lower()} on {self._say(slot)}")
        state.record_action(Action("booked", appt.id, svc.id, self._local_id(slot)))
        return f"Booked appointment {appt.id}: {svc.name} on {self._say(slot)}."

    @function_tool
    async def list_my_appointments(self, ctx: RunContext[CallData]) -> str:
        """List the caller's upcoming appointments with their ids."""
        customer_id = self._customer_id()
        state = ctx.userdata
        appts = await asyncio.to_thread(
            desk_data(state.store).appointments.for_customer,
            customer_id,
            upcoming_after=state.now(),
        )
        booked = [a for a in appts if a.status == "booked"]
        state.record_action(Action("listed"))
        if not booked:
            return "The caller has no upcoming appointments."
        lines = []
        for a in booked:
            svc = state.desk.service(a.service_id)
            label = svc.name if svc else a.service_id
            lines.append(f"appointment {a.id}: {label} on {self._say(Slot(a.start, a.end))}")
        return "\n".join(lines)

    @function_tool
    async def reschedule_appointment(
        self, ctx: RunContext[CallData], appointment_id: int, slot_id: str
    ) -> str:
        """Move one of the caller's appointments to a new free slot.

        Args:
            appointment_id: The id from list_my_appointments.
            slot_id: The new slot_id from find_free_slots.
        """
        state = ctx.userdata
        customer_id = self._customer_id()
        current = await asyncio.to_thread(desk_data(state.store).appointments.get, appointment_id)
        if current is None or current.customer_id != customer_id:
            raise ToolError(f"The caller has no appointment {appointment_id}. List theirs first.")
        svc = self._service(current.service_id)
        slot = self._slot(svc, slot_id)
        try:
            await asyncio.to_thread(
                desk_data(state.store).appointments.reschedule,
                appointment_id,
                customer_id,
                slot.start,
                slot.end,
            )
        except AppointmentNotFound:
            raise ToolError(f"The caller has no appointment {appointment_id}.") from None
        except AppointmentNotActive:
            raise ToolError(
                f"Appointment {appointment_id} was cancelled; book a new one."
            ) from None
        except SlotTaken:
            raise await self._refuse_taken(svc, slot) from None
        old_slot = Slot(current.start, current.end)
        old = self._say(old_slot)
        state.record_change(f"moved the {svc.name.lower()} from {old} to {self._say(slot)}")
        state.record_action(
            Action("moved", appointment_id, svc.id, self._local_id(slot), self._local_id(old_slot))
        )
        return f"Moved appointment {appointment_id} to {self._say(slot)}."

    @function_tool
    async def cancel_appointment(self, ctx: RunContext[CallData], appointment_id: int) -> str:
        """Cancel one of the caller's appointments, after the caller confirmed.

        Args:
            appointment_id: The id from list_my_appointments.
        """
        state = ctx.userdata
        customer_id = self._customer_id()
        try:
            appt = await asyncio.to_thread(
                desk_data(state.store).appointments.cancel, appointment_id, customer_id
            )
        except AppointmentNotFound:
            raise ToolError(f"The caller has no appointment {appointment_id}.") from None
        except AppointmentNotActive:
            raise ToolError(f"Appointment {appointment_id} is already cancelled.") from None
        svc = state.desk.service(appt.service_id)
        label = svc.name.lower() if svc else appt.service_id
        old_slot = Slot(appt.start, appt.end)
        state.record_change(f"cancelled the {label} on {self._say(old_slot)}")
        state.record_action(
            Action("cancelled", appointment_id, appt.service_id, self._local_id(old_slot))
        )
        return f"Cancelled appointment {appointment_id}."

    @function_tool
    async def wrap_up(self, ctx: RunContext[CallData]) -> Agent:
        """The caller's request is done: move to the closing of the call."""
        return stages.wrapup_agent(ctx.userdata, chat_ctx=self.carried_context())
