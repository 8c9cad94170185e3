"""Slot logic for the appointment desk: which start times exist, which are free, and why not.

Pure functions over a `BusinessProfile`; the store supplies the busy intervals. Opening hours are
local wall-clock times, so a window is built with `datetime.combine(day, t, tzinfo=tz)` for each
local day, and every comparison and duration is computed in UTC. That keeps a 09:00 slot at 09:00
local on both sides of a DST switch while durations stay real elapsed minutes.

`SlotError` messages are sentences a voice agent can say to the caller as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from agents.desk_profile import Service, desk
from callcrew.profile import WEEKDAYS, BusinessProfile, Hours

_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_SLOT_ID_EXAMPLE = "2026-06-16T09:30"


class SlotError(ValueError):
    """A start time the desk cannot book; the message can be read to the caller."""


@dataclass(frozen=True)
class Slot:
    """One bookable appointment: [start, end), aware, in the business's time zone."""

    start: datetime
    end: datetime

    @property
    def id(self) -> str:
        """Local wall time like "2026-06-16T09:30", readable for an LLM to echo back.

        During the repeated hour when clocks go back the wall time names two instants, so
        only then the UTC offset is appended ("2026-11-01T01:30-05:00").
        """
        text = self.start.strftime("%Y-%m-%dT%H:%M")
        if _is_ambiguous(self.start):
            text += self.start.isoformat()[-6:]
        return text

    @property
    def minutes(self) -> int:
        # Subtracting two datetimes that share a tzinfo gives wall-clock time; go via UTC.
        elapsed = self.end.astimezone(UTC) - self.start.astimezone(UTC)
        return int(elapsed.total_seconds() // 60)


def _is_ambiguous(local: datetime) -> bool:
    return local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()


def _exists(local: datetime) -> bool:
    """False for wall times skipped when clocks go forward (e.g. 02:30 on a spring-forward day)."""
    tz = local.tzinfo
    assert tz is not None
    back = local.astimezone(UTC).astimezone(tz)
    return back.replace(tzinfo=None) == local.replace(tzinfo=None)


def _clock(t: time) -> str:
    """24-hour time without a leading zero, as in "9:00 to 12:00"."""
    return f"{t.hour}:{t.minute:02d}"


def _spoken_time(local: datetime) -> str:
    hour12 = local.hour % 12 or 12
    suffix = "am" if local.hour < 12 else "pm"
    if local.minute == 0:
        return f"{hour12} {suffix}"
    return f"{hour12}:{local.minute:02d} {suffix}"


def _spoken_day(local: date, now_local: date) -> str:
    text = f"{_DAY_NAMES[local.weekday()]} {local:%B} {local.day}"
    if local.year != now_local.year:
        text += f", {local.year}"
    return text


def _windows(profile: BusinessProfile, day: date) -> list[Hours]:
    return sorted(profile.hours.get(WEEKDAYS[day.weekday()], []), key=lambda w: w.open)


def _window_bounds(day: date, window: Hours, tz: tzinfo) -> tuple[datetime, datetime]:
    """The window's open and close as UTC instants.

    Python compares and subtracts two datetimes sharing a tzinfo by wall time, ignoring DST,
    so all arithmetic and comparison here is done on UTC values.
    """
    return (
        datetime.combine(day, window.open, tzinfo=tz).astimezone(UTC),
        datetime.combine(day, window.close, tzinfo=tz).astimezone(UTC),
    )


def _wall_minutes_since_open(day: date, window: Hours, local: datetime) -> float:
    # Alignment is counted on the wall clock, not in elapsed time, so that after a DST switch
    # slots still fall on :00 and :30 rather than shifting by the hour the clocks moved.
    opened = datetime.combine(day, window.open)
    return (local.replace(tzinfo=None, fold=0) - opened).total_seconds() / 60


def _step_rule(step: int, window: Hours) -> str:
    aligned_to_clock = 60 % step == 0 and window.open.minute % step == 0
    if aligned_to_clock and step == 60:
        return "Appointments start on the hour."
    if aligned_to_clock and step == 30:
        return "Appointments start on the half hour (every 30 minutes)."
    if aligned_to_clock and step == 15:
        return "Appointments start on the quarter hour (every 15 minutes)."
    return f"Appointments start every {step} minutes from {_clock(window.open)}."


def _hours_phrase(windows: Sequence[Hours]) -> str:
    spans = [f"{_clock(w.open)} to {_clock(w.close)}" for w in windows]
    if len(spans) == 1:
        return spans[0]
    return ", ".join(spans[:-1]) + " and " + spans[-1]


def _last_bookable_day(profile: BusinessProfile, now: datetime) -> date:
    return now.astimezone(profile.tz).date() + timedelta(days=desk(profile).booking_horizon_days)


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("`now` must be a timezone-aware datetime")


def _localize(profile: BusinessProfile, when: datetime) -> datetime:
    """Aware datetime in the business's zone; a naive one is read as business-local wall time."""
    tz = profile.tz
    if when.tzinfo is None or when.utcoffset() is None:
        local = when.replace(tzinfo=tz)
        if not _exists(local):
            raise SlotError(
                f"The clocks go forward that night, so {_spoken_time(local)} doesn't exist on "
                f"{_DAY_NAMES[local.weekday()]} {local:%B} {local.day}."
            )
        return local
    return when.astimezone(tz)


def validate_wall_time(profile: BusinessProfile, wall: datetime) -> datetime:
    """A naive business-local wall time as an aware one; SlotError when the clocks skip it."""
    return _localize(profile, wall.replace(tzinfo=None))


def parse_slot_id(profile: BusinessProfile, slot_id: str) -> datetime:
    """The start time named by a slot id (see `Slot.id`), aware, in the business's zone.

    Also accepts a full ISO time with seconds or an offset, since models sometimes echo one.
    """
    text = slot_id.strip() if isinstance(slot_id, str) else ""
    parsed: datetime | None = None
    if len(text) >= 16 and text[10] in "T ":
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
    if parsed is None:
        raise SlotError(
            f"I couldn't read {slot_id!r} as a time; "
            f"slot ids look like {_SLOT_ID_EXAMPLE}, taken from the list of free slots."
        )
    return _localize(profile, parsed)


def validate_start(
    profile: BusinessProfile, service: Service, start: datetime, now: datetime
) -> Slot:
    """Check that `service` can be booked at `start`, and return that slot.

    A naive `start` is read as business-local wall time. The booking horizon counts local
    calendar days from today, so the whole last day is bookable. Raises `SlotError` with the
    first reason the caller would care about.
    """
    tz = profile.tz
    _require_aware(now)
    local = _localize(profile, start)
    start_utc = local.astimezone(UTC)
    if start_utc <= now:
        raise SlotError("That time is in the past.")
    day = local.date()
    if day > _last_bookable_day(profile, now):
        raise SlotError(f"We only book up to {desk(profile).booking_horizon_days} days ahead.")
    day_name = _DAY_NAMES[day.weekday()]
    windows = _windows(profile, day)
    if not windows:
        raise SlotError(f"We're closed on {day_name}s.")
    duration = timedelta(minutes=service.duration_minutes)
    for i, window in enumerate(windows):
        opens, closes = _window_bounds(day, window, tz)
        if not opens <= start_utc < closes:
            continue
        if _wall_minutes_since_open(day, window, local) % desk(profile).slot_step_minutes:
            raise SlotError(_step_rule(desk(profile).slot_step_minutes, window))
        end_utc = start_utc + duration
        if end_utc > closes:
            if i + 1 < len(windows):
                raise SlotError(
                    f"{service.name} takes {service.duration_minutes} minutes and would run "
                    f"past {_clock(window.close)}, when we close until "
                    f"{_clock(windows[i + 1].open)}."
                )
            raise SlotError(
                f"{service.name} takes {service.duration_minutes} minutes and would run "
                f"past closing time ({_clock(window.close)})."
            )
        return Slot(local, end_utc.astimezone(tz))
    raise SlotError(
        f"That time is outside our opening hours on {day_name} ({_hours_phrase(windows)})."
    )


def _overlaps(start: datetime, end: datetime, busy: Sequence[tuple[datetime, datetime]]) -> bool:
    return any(b_start < end and start < b_end for b_start, b_end in busy)


def _candidates(profile: BusinessProfile, day: date, window: Hours) -> list[datetime]:
    """Start times in one window, stepped on the wall clock, each a real instant.

    Wall times that clocks skip are dropped; a wall time that happens twice yields both instants.
    """
    tz = profile.tz
    opens, closes = _window_bounds(day, window, tz)
    step = timedelta(minutes=desk(profile).slot_step_minutes)
    out: list[datetime] = []
    wall = datetime.combine(day, window.open)
    end_wall = datetime.combine(day, window.close)
    while wall < end_wall:
        for fold in (0, 1):
            local = wall.replace(tzinfo=tz, fold=fold)
            if fold == 1 and not _is_ambiguous(local):
                continue
            if _exists(local) and opens <= local.astimezone(UTC) < closes:
                out.append(local)
        wall += step
    # The repeated hour yields 01:00 EDT, 01:00 EST, 01:30 EDT...; callers want time order.
    out.sort(key=lambda d: d.astimezone(UTC))
    return out


def free_slots(
    profile: BusinessProfile,
    service: Service,
    busy: Sequence[tuple[datetime, datetime]],
    now: datetime,
    *,
    start_day: date | None = None,
    days: int = 7,
    limit: int = 12,
) -> list[Slot]:
    """Free start times for `service`, earliest first, over `days` local days from `start_day`.

    `busy` holds aware [start, end) intervals already taken (any zone). Past starts, starts
    beyond the booking horizon and starts whose whole appointment does not fit in its opening
    window or overlaps a busy interval are left out.
    """
    tz = profile.tz
    _require_aware(now)
    first = start_day if start_day is not None else now.astimezone(tz).date()
    last_bookable = _last_bookable_day(profile, now)
    duration = timedelta(minutes=service.duration_minutes)
    busy_utc = [(a.astimezone(UTC), b.astimezone(UTC)) for a, b in busy]
    slots: list[Slot] = []
    if limit <= 0:
        return slots
    for offset in range(days):
        day = first + timedelta(days=offset)
        if day > last_bookable:
            break
        for window in _windows(profile, day):
            _, closes = _window_bounds(day, window, tz)
            for local in _candidates(profile, day, window):
                start_utc = local.astimezone(UTC)
                end = start_utc + duration
                if start_utc <= now or end > closes or _overlaps(start_utc, end, busy_utc):
                    continue
                slots.append(Slot(local, end.astimezone(tz)))
                if len(slots) >= limit:
                    return slots
    return slots


def describe_slot(profile: BusinessProfile, slot: Slot, now: datetime) -> str:
    """Spoken form, e.g. "Tuesday June 16 at 9:30 am"; the year only when it is not this year."""
    tz = profile.tz
    local = slot.start.astimezone(tz)
    text = f"{_spoken_day(local.date(), now.astimezone(tz).date())} at {_spoken_time(local)}"
    if _is_ambiguous(local):
        # The repeated hour when clocks go back: say which one.
        text += f" {local.tzname()}"
    return text


@dataclass(frozen=True)
class Nearby:
    """What a caller's own time (or window) looks like: the free slots inside it, or else the
    nearest free slot before it and the nearest after it (either may not exist)."""

    inside: tuple[Slot, ...]
    before: Slot | None
    after: Slot | None


def nearest_free(
    profile: BusinessProfile,
    service: Service,
    busy: Sequence[tuple[datetime, datetime]],
    now: datetime,
    start: datetime,
    end: datetime | None = None,
    *,
    search_days: int = 14,
) -> Nearby:
    """Free slots for a time the caller named (`end` None: exactly `start`) or a window
    [start, end); when none is free, the nearest free slot on each side, up to `search_days`
    local days away. A callers asks "Friday at 11"; answering with only later times makes them
    ask again for the earlier one, so both sides are looked up at once.

    `busy` must cover the days searched. Nothing before `now` is ever offered.
    """
    _require_aware(now)
    tz = profile.tz
    lo = _localize(profile, start).astimezone(UTC)
    hi = lo if end is None else _localize(profile, end).astimezone(UTC)
    if hi < lo:
        raise ValueError("a window must not end before it starts")
    today = now.astimezone(tz).date()
    first = max(today, lo.astimezone(tz).date() - timedelta(days=search_days))
    last = hi.astimezone(tz).date() + timedelta(days=search_days)
    slots = free_slots(
        profile, service, busy, now, start_day=first, days=(last - first).days + 1, limit=10_000
    )
    if end is None:
        inside = [s for s in slots if s.start.astimezone(UTC) == lo]
    else:
        inside = [s for s in slots if lo <= s.start.astimezone(UTC) < hi]
    if inside:
        return Nearby(tuple(inside), None, None)
    earlier = [s for s in slots if s.start.astimezone(UTC) < lo]
    later = [s for s in slots if s.start.astimezone(UTC) >= hi]
    return Nearby((), earlier[-1] if earlier else None, later[0] if later else None)


def next_open_days(
    profile: BusinessProfile, after: date, now: datetime, count: int = 2
) -> list[date]:
    """The next `count` days after `after` with opening hours, within the booking horizon."""
    out: list[date] = []
    day = after
    last = _last_bookable_day(profile, now)
    while len(out) < count and day < last:
        day += timedelta(days=1)
        if _windows(profile, day):
            out.append(day)
    return out


def closed_on(profile: BusinessProfile, day: date) -> bool:
    return not _windows(profile, day)


def hours_on(profile: BusinessProfile, day: date) -> str:
    """Opening hours of one day, as in "9:00 to 12:00 and 13:00 to 19:00" ("closed")."""
    windows = _windows(profile, day)
    return _hours_phrase(windows) if windows else "closed"


def spoken_day(profile: BusinessProfile, day: date, now: datetime) -> str:
    """ "Tuesday June 16", with the year only when it is not this year."""
    return _spoken_day(day, now.astimezone(profile.tz).date())


def spoken_time(local: datetime) -> str:
    """ "9:30 am", "2 pm"."""
    return _spoken_time(local)


def day_name(day: date) -> str:
    return _DAY_NAMES[day.weekday()]
