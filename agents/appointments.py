"""The appointment desk: finds free times, books, moves, cancels and lists appointments.

Every tool validates its arguments and raises ToolError with a sentence the model can relay to
the caller. The store does the booking in a transaction, so two callers never get one slot.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Literal

from livekit.agents import Agent, RunContext, ToolError, function_tool

from agents import stages
from agents.base import CrewAgent
from agents.calldata import CallData
from callcrew.call import Channel, Outcome
from callcrew.profile import Service
from callcrew.providers.phrases import say_phrase
from callcrew.scheduling import (
    Slot,
    SlotError,
    describe_slot,
    free_slots,
    parse_slot_id,
    validate_start,
)
from callcrew.store import AppointmentNotActive, AppointmentNotFound, SlotTaken

PartOfDay = Literal["any", "morning", "afternoon", "evening"]
OFFERED_AT_ONCE = 3
TRANSFER_PHRASE = "Of course. I'm putting you through to a colleague now, please hold."
MAX_MESSAGE_LENGTH = 1000
_PARTS: dict[str, tuple[int, int]] = {
    "any": (0, 24),
    "morning": (0, 12),
    "afternoon": (12, 17),
    "evening": (17, 24),
}


class AppointmentsAgent(CrewAgent):
    stage = "appointments"
    prompt = "appointments"

    async def on_enter(self) -> None:
        await super().on_enter()
        # Continue from what the caller already told the receptionist; never re-ask.
        self.session.generate_reply()

    # --- helpers -------------------------------------------------------------------------------

    def _service(self, name: str) -> Service:
        service = self.state.profile.service(name)
        if service is None:
            offered = ", ".join(s.name for s in self.state.profile.services)
            raise ToolError(f"We don't offer {name!r}. We offer: {offered}.")
        return service

    def _customer_id(self) -> int:
        if self.state.customer_id is None:
            raise ToolError("I don't know who the caller is yet. Ask for their name.")
        return self.state.customer_id

    def _parse_day(self, text: str) -> date:
        try:
            day = date.fromisoformat(text.strip())
        except ValueError:
            raise ToolError(f"{text!r} is not a date; use the form 2026-06-16.") from None
        today = self.state.now().astimezone(self.state.profile.tz).date()
        if day < today:
            raise ToolError(f"{day:%A %B} {day.day} has already passed. Ask for a later day.")
        return day

    def _slot(self, service: Service, slot_id: str) -> Slot:
        try:
            start = parse_slot_id(self.state.profile, slot_id)
            return validate_start(self.state.profile, service, start, self.state.now())
        except SlotError as exc:
            raise ToolError(str(exc)) from None

    def _say(self, slot: Slot) -> str:
        return describe_slot(self.state.profile, slot, self.state.now())

    async def _free(
        self, service: Service, start_day: date, days: int, part: PartOfDay, limit: int
    ) -> list[Slot]:
        profile, now = self.state.profile, self.state.now()
        first = datetime.combine(start_day, datetime.min.time(), tzinfo=profile.tz)
        busy = await asyncio.to_thread(
            self.state.store.appointments.busy_between, first, first + timedelta(days=days + 1)
        )
        slots = free_slots(profile, service, busy, now, start_day=start_day, days=days, limit=500)
        lo, hi = _PARTS[part]
        return [s for s in slots if lo <= s.start.astimezone(profile.tz).hour < hi][:limit]

    # --- tools ---------------------------------------------------------------------------------

    @function_tool
    async def find_free_slots(
        self,
        ctx: RunContext[CallData],
        service: str,
        day: str = "",
        part_of_day: PartOfDay = "any",
    ) -> str:
        """Find free appointment times. Returns lines of `slot_id: spoken time`.

        Args:
            service: The service id or name, e.g. "haircut".
            day: A specific date as YYYY-MM-DD, or empty for the next free times.
            part_of_day: Limit to the morning, afternoon or evening.
        """
        svc = self._service(service)
        today = self.state.now().astimezone(self.state.profile.tz).date()
        if day:
            wanted = self._parse_day(day)
            found = await self._free(svc, wanted, 1, part_of_day, OFFERED_AT_ONCE)
            if found:
                return self._format(found)
            nearby = await self._free(svc, wanted + timedelta(days=1), 14, part_of_day, 3)
            when = f"{wanted:%A %B} {wanted.day}"
            if part_of_day != "any":
                when += f" {part_of_day}"
            if not nearby:
                return (
                    f"Nothing free for a {svc.name.lower()} on {when}, nor in the two weeks after."
                )
            return (
                f"Nothing free for a {svc.name.lower()} on {when}. "
                f"Nearest alternatives:\n{self._format(nearby)}"
            )
        found = await self._free(svc, today, 14, part_of_day, OFFERED_AT_ONCE)
        return self._format(found) if found else "Nothing free in the next two weeks."

    def _format(self, slots: list[Slot]) -> str:
        return "\n".join(f"{s.id}: {self._say(s)}" for s in slots)

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
                state.store.appointments.book,
                customer_id,
                svc.id,
                slot.start,
                slot.end,
                state.info.call_id,
            )
        except SlotTaken:
            raise ToolError(
                f"{self._say(slot)} was just taken by someone else. Offer other free times."
            ) from None
        state.booked_ids.append(appt.id)
        state.record_change(f"booked a {svc.name.lower()} on {self._say(slot)}")
        state.set_outcome(Outcome.BOOKED)
        return f"Booked appointment {appt.id}: {svc.name} on {self._say(slot)}."

    @function_tool
    async def list_my_appointments(self, ctx: RunContext[CallData]) -> str:
        """List the caller's upcoming appointments with their ids."""
        customer_id = self._customer_id()
        state = ctx.userdata
        appts = await asyncio.to_thread(
            state.store.appointments.for_customer, customer_id, upcoming_after=state.now()
        )
        booked = [a for a in appts if a.status == "booked"]
        if not booked:
            return "The caller has no upcoming appointments."
        lines = []
        for a in booked:
            svc = state.profile.service(a.service_id)
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
        current = await asyncio.to_thread(state.store.appointments.get, appointment_id)
        if current is None or current.customer_id != customer_id:
            raise ToolError(f"The caller has no appointment {appointment_id}. List theirs first.")
        svc = self._service(current.service_id)
        slot = self._slot(svc, slot_id)
        try:
            await asyncio.to_thread(
                state.store.appointments.reschedule,
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
            raise ToolError(f"{self._say(slot)} is taken. Offer other free times.") from None
        old = self._say(Slot(current.start, current.end))
        state.record_change(f"moved the {svc.name.lower()} from {old} to {self._say(slot)}")
        state.set_outcome(Outcome.RESCHEDULED)
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
                state.store.appointments.cancel, appointment_id, customer_id
            )
        except AppointmentNotFound:
            raise ToolError(f"The caller has no appointment {appointment_id}.") from None
        except AppointmentNotActive:
            raise ToolError(f"Appointment {appointment_id} is already cancelled.") from None
        svc = state.profile.service(appt.service_id)
        label = svc.name.lower() if svc else appt.service_id
        state.record_change(f"cancelled the {label} on {self._say(Slot(appt.start, appt.end))}")
        state.set_outcome(Outcome.CANCELLED)
        return f"Cancelled appointment {appointment_id}."

    @function_tool
    async def request_human(self, ctx: RunContext[CallData], reason: str) -> str | None:
        """Put the caller through to a person, when they ask for one or you are stuck.

        Args:
            reason: Why a person is needed, in a few words.
        """
        state = ctx.userdata
        number = state.profile.transfer_number
        phone_call = state.info.channel is not Channel.WEB
        if not (number and phone_call and state.control.can_transfer):
            return (
                "Nobody can be put through on this line right now. Offer to take a message "
                "for the team and record it with take_message."
            )
        await ctx.wait_for_playout()
        summary = " ".join(reason.split())[:200]
        if state.profile.warm_transfer and state.control.can_warm_transfer:
            try:
                await state.control.warm_transfer(number, self.chat_ctx)
            except ToolError as exc:
                raise ToolError(
                    f"No colleague could take the call ({exc}). Apologise and offer to take a "
                    "message with take_message."
                ) from None
            state.record_change(f"put through to a colleague, who was briefed ({summary})")
            state.set_outcome(Outcome.TRANSFERRED)
            state.ended_by = "transfer"
            return None
        ctx.disallow_interruptions()
        handle = await say_phrase(
            self.session,
            TRANSFER_PHRASE,
            cache=state.phrases,
            stats=state.phrase_stats,
            allow_interruptions=False,
        )
        await handle
        state.record_change(f"transferred to a colleague ({summary})")
        state.set_outcome(Outcome.TRANSFERRED)
        state.ended_by = "transfer"
        await state.control.transfer(number)
        return None

    @function_tool
    async def take_message(self, ctx: RunContext[CallData], message: str) -> str:
        """Record a message for the team when nobody can take the call.

        Args:
            message: The caller's message, with any call-back details they gave.
        """
        text = " ".join(message.split())
        if not text:
            raise ToolError("The message is empty. Ask the caller what to pass on.")
        if len(text) > MAX_MESSAGE_LENGTH:
            raise ToolError("That message is too long. Ask the caller for the short version.")
        ctx.userdata.message_for_staff = text
        ctx.userdata.record_change("took a message for the team")
        ctx.userdata.set_outcome(Outcome.MESSAGE_TAKEN)
        return "Message recorded; the team will see it."

    @function_tool
    async def wrap_up(self, ctx: RunContext[CallData]) -> Agent:
        """The caller's request is done: move to the closing of the call."""
        return stages.wrapup_agent(ctx.userdata, chat_ctx=self.carried_context())
