"""The desk's answers about free times: a day, part of a day, or a time the caller named.

Callers name their own time ("Friday at 11", "Thursday between 1 and 3"). The answer is that
slot when it is free, else the nearest free slot before and after it, and always says why
(taken, closed that day, already past, outside the hours) so the model can tell the caller
instead of "nothing free". Every slot returned is remembered as offered: the booking tools
refuse a slot id that was never offered and is not free (see `appointments.py`).

Lines are `slot_id: spoken time`, so the model can book with the exact id.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime, time, timedelta
from typing import Literal

from livekit.agents import ToolError

from agents.calldata import CallData
from agents.desk_profile import Service
from agents.desk_store import desk_data
from agents.scheduling import (
    Nearby,
    Slot,
    SlotError,
    closed_on,
    day_name,
    describe_slot,
    free_slots,
    hours_on,
    nearest_free,
    next_open_days,
    spoken_day,
    spoken_time,
    validate_start,
    validate_wall_time,
)

PartOfDay = Literal["any", "morning", "afternoon", "evening"]
OFFERED_AT_ONCE = 3
SEARCH_DAYS = 14
PARTS: dict[str, tuple[int, int]] = {
    "any": (0, 24),
    "morning": (0, 12),
    "afternoon": (12, 17),
    "evening": (17, 24),
}
_TIME = re.compile(r"^\s*(\d{1,2})(?:[:.h](\d{2}))?\s*([ap])?\.?\s*m?\.?\s*$", re.IGNORECASE)


def parse_clock(text: str) -> time:
    """ "14:00", "9:30", "2 pm", "2:30pm" -> a wall-clock time; ToolError otherwise."""
    m = _TIME.match(text)
    if m is None:
        raise ToolError(f"{text!r} is not a time; use the form 14:00.")
    hour, minute, half = int(m.group(1)), int(m.group(2) or 0), (m.group(3) or "").lower()
    if half:
        if not 1 <= hour <= 12:
            raise ToolError(f"{text!r} is not a time; use the form 14:00.")
        hour = hour % 12 + (12 if half == "p" else 0)
    if hour > 23 or minute > 59:
        raise ToolError(f"{text!r} is not a time; use the form 14:00.")
    return time(hour, minute)


def parse_time_or_window(text: str) -> tuple[time, time | None]:
    """ "11:00" -> (11:00, None); "13:00-15:00" -> a window."""
    if "-" in text:
        first, _, second = text.partition("-")
        start, end = parse_clock(first), parse_clock(second)
        if end <= start:
            raise ToolError(f"{text!r}: the window must end after it starts, e.g. 13:00-15:00.")
        return start, end
    return parse_clock(text), None


class Availability:
    """Looks up free times for one call and words the answer."""

    def __init__(self, state: CallData) -> None:
        self.state = state
        self.profile = state.profile

    # --- building blocks ---------------------------------------------------------------------

    def now(self) -> datetime:
        return self.state.now()

    def today(self) -> date:
        return self.now().astimezone(self.profile.tz).date()

    def say(self, slot: Slot) -> str:
        return describe_slot(self.profile, slot, self.now())

    def day_text(self, day: date) -> str:
        return spoken_day(self.profile, day, self.now())

    def lines(self, slots: list[Slot]) -> str:
        """Slot lines, each remembered as offered on this call."""
        for s in slots:
            self.state.offered_slots.add(s.id)
        return "\n".join(f"{s.id}: {self.say(s)}" for s in slots)

    async def _busy(self, first: date, days: int) -> list[tuple[datetime, datetime]]:
        start = datetime.combine(first, time.min, tzinfo=self.profile.tz)
        return await asyncio.to_thread(
            desk_data(self.state.store).appointments.busy_between,
            start,
            start + timedelta(days=days + 1),
        )

    async def free(
        self, service: Service, first: date, days: int, part: PartOfDay, limit: int
    ) -> list[Slot]:
        busy = await self._busy(first, days)
        slots = free_slots(
            self.profile, service, busy, self.now(), start_day=first, days=days, limit=10_000
        )
        lo, hi = PARTS[part]
        return [s for s in slots if lo <= s.start.astimezone(self.profile.tz).hour < hi][:limit]

    async def near(self, service: Service, start: datetime, end: datetime | None) -> Nearby:
        first = max(self.today(), start.date() - timedelta(days=SEARCH_DAYS))
        days = ((end or start).date() - first).days + SEARCH_DAYS + 1
        busy = await self._busy(first, days)
        return nearest_free(
            self.profile, service, busy, self.now(), start, end, search_days=SEARCH_DAYS
        )

    def nearby_text(self, near: Nearby) -> str:
        found = [s for s in (near.before, near.after) if s is not None]
        if not found:
            return f"Nothing free in the {SEARCH_DAYS} days around it."
        label = "Nearest free before and after" if len(found) == 2 else "Nearest free"
        return f"{label}:\n{self.lines(found)}"

    async def next_free_after_now(self, service: Service) -> str:
        found = await self.free(service, self.today(), SEARCH_DAYS, "any", 1)
        if not found:
            return f"Nothing is free in the next {SEARCH_DAYS} days."
        return f"The next free time after now:\n{self.lines(found)}"

    # --- answers -----------------------------------------------------------------------------

    async def past_day(self, service: Service, day: date) -> ToolError:
        return ToolError(
            f"{self.day_text(day)} has already passed (today is {self.day_text(self.today())}). "
            + await self.next_free_after_now(service)
        )

    async def closed_day(self, service: Service, day: date, wanted: time | None) -> str:
        opens = next_open_days(self.profile, day, self.now())
        head = f"We're closed on {day_name(day)}s."
        # The caller may prefer the day before to a later one: offer that side too.
        midnight = datetime.combine(day, time.min, tzinfo=self.profile.tz)
        before = (await self.near(service, midnight, None)).before
        earlier = (
            f"\nNearest free before {day_name(day)}:\n{self.lines([before])}" if before else ""
        )
        if not opens:
            return head + " No open day is bookable after it." + earlier
        days = " and ".join(f"{self.day_text(d)} ({hours_on(self.profile, d)})" for d in opens)
        head += f" Next open days: {days}."
        if wanted is not None:
            at = datetime.combine(opens[0], wanted, tzinfo=self.profile.tz)
            near = await self.near(service, at, None)
            if near.inside:
                same = self.lines(list(near.inside))
                return f"{head} Free at that time on {self.day_text(opens[0])}:\n{same}{earlier}"
            return f"{head} {self.nearby_text(near)}{earlier}"
        found = await self.free(service, opens[0], SEARCH_DAYS, "any", OFFERED_AT_ONCE)
        if not found:
            return head + f" Nothing free in the {SEARCH_DAYS} days after." + earlier
        return f"{head} First free times:\n{self.lines(found)}{earlier}"

    async def at_time(self, service: Service, day: date, start: time, end: time | None) -> str:
        """The caller's own time (or window) on `day`, which is open and not in the past."""
        tz = self.profile.tz
        at = datetime.combine(day, start, tzinfo=tz)
        until = datetime.combine(day, end, tzinfo=tz) if end else None
        asked = f"{self.day_text(day)} at {spoken_time(at)}"
        if until is not None:
            asked = f"{self.day_text(day)} between {spoken_time(at)} and {spoken_time(until)}"
        try:
            # Wall time as the caller said it: a time the clocks skip is refused, not shifted.
            for wall in (start, end):
                if wall is not None:
                    validate_wall_time(self.profile, datetime.combine(day, wall))
        except SlotError as exc:
            raise ToolError(str(exc)) from None
        if (until or at) <= self.now():
            now_local = self.now().astimezone(tz)
            raise ToolError(
                f"{asked} has already passed; it is {spoken_time(now_local)} now. "
                + await self.next_free_after_now(service)
            )
        near = await self.near(service, at, until)
        if near.inside:
            return f"Free {asked}:\n{self.lines(list(near.inside)[:OFFERED_AT_ONCE])}"
        if until is None:
            reason = "is taken."
            try:
                validate_start(self.profile, service, at, self.now())
            except SlotError as exc:
                reason = f"can't be booked: {exc}"
            return f"{asked} {reason} {self.nearby_text(near)}"  # reason ends its sentence
        return f"Nothing free {asked}. {self.nearby_text(near)}"

    async def on_day(self, service: Service, day: date, part: PartOfDay) -> str:
        found = await self.free(service, day, 1, part, OFFERED_AT_ONCE)
        if found:
            return self.lines(found)
        when = self.day_text(day) + ("" if part == "any" else f" {part}")
        lo, hi = PARTS[part]
        tz = self.profile.tz
        first = datetime.combine(day, time(lo), tzinfo=tz)
        last = datetime.combine(day, time(hi - 1, 59), tzinfo=tz)
        near = await self.near(service, first, last)
        return f"Nothing free for a {service.name.lower()} on {when}. {self.nearby_text(near)}"

    async def answer(self, service: Service, day_text: str, time_text: str, part: PartOfDay) -> str:
        if time_text.strip() and not day_text.strip():
            raise ToolError("A time needs its day: pass day as YYYY-MM-DD as well.")
        if not day_text.strip():
            found = await self.free(service, self.today(), SEARCH_DAYS, part, OFFERED_AT_ONCE)
            return self.lines(found) if found else f"Nothing free in the next {SEARCH_DAYS} days."
        try:
            day = date.fromisoformat(day_text.strip())
        except ValueError:
            raise ToolError(f"{day_text!r} is not a date; use the form 2026-06-16.") from None
        wanted = parse_time_or_window(time_text) if time_text.strip() else None
        if day < self.today():
            raise await self.past_day(service, day)
        if closed_on(self.profile, day):
            return await self.closed_day(service, day, wanted[0] if wanted else None)
        if wanted is not None:
            return await self.at_time(service, day, *wanted)
        return await self.on_day(service, day, part)
