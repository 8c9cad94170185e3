from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from agents.desk_profile import DeskProfile, Service, desk
from agents.scheduling import (
    Slot,
    SlotError,
    describe_slot,
    free_slots,
    parse_slot_id,
    validate_start,
)

from callcrew.profile import BusinessProfile, load_profile, parse_profile

pytestmark = pytest.mark.unit

NY = ZoneInfo("America/New_York")
# Monday 2026-06-15, 08:00 in New York (EDT, UTC-4).
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def make_profile(**overrides: Any) -> BusinessProfile:
    data: dict[str, Any] = {
        "name": "Test Desk",
        "timezone": "America/New_York",
        "greeting": "Hello.",
        "hours": {
            "mon": "closed",
            "tue": "09:00-17:00",
            "wed": "09:00-17:00",
            "thu": ["09:00-12:00", "13:00-19:00"],
            "fri": "09:00-17:00",
            "sat": "10:00-14:00",
            "sun": "closed",
        },
    }
    section: dict[str, Any] = {
        "slot_step_minutes": 30,
        "booking_horizon_days": 60,
        "services": [
            {"id": "haircut", "name": "Haircut", "duration_minutes": 30},
            {"id": "color", "name": "Hair colouring", "duration_minutes": 90},
            {"id": "beard", "name": "Beard trim", "duration_minutes": 15},
        ],
    }
    for key, value in overrides.items():
        (section if key in DeskProfile.model_fields else data)[key] = value
    data["desk"] = section
    return parse_profile(data, "test")


@pytest.fixture
def profile() -> BusinessProfile:
    return make_profile()


def svc(profile: BusinessProfile, service_id: str) -> Service:
    found = desk(profile).service(service_id)
    assert found is not None
    return found


def ny(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=NY)


def ids(slots: list[Slot]) -> list[str]:
    return [s.id for s in slots]


# --- validate_start -------------------------------------------------------------------------


def test_valid_start_returns_slot_in_business_zone(profile: BusinessProfile) -> None:
    slot = validate_start(profile, svc(profile, "color"), ny(2026, 6, 16, 9, 30), NOW)
    assert slot.start == ny(2026, 6, 16, 9, 30)
    assert slot.end == ny(2026, 6, 16, 11, 0)
    assert slot.start.tzinfo == NY and slot.end.tzinfo == NY
    assert slot.minutes == 90
    assert slot.id == "2026-06-16T09:30"


def test_naive_start_is_business_local_time(profile: BusinessProfile) -> None:
    slot = validate_start(profile, svc(profile, "haircut"), datetime(2026, 6, 16, 9, 0), NOW)
    assert slot.start.astimezone(UTC) == datetime(2026, 6, 16, 13, 0, tzinfo=UTC)


def test_aware_start_in_another_zone_is_converted(profile: BusinessProfile) -> None:
    # 13:00 UTC is 09:00 in New York in June.
    slot = validate_start(
        profile, svc(profile, "haircut"), datetime(2026, 6, 16, 13, 0, tzinfo=UTC), NOW
    )
    assert slot.id == "2026-06-16T09:00"
    # 09:00 UTC would be 05:00 in New York: closed.
    with pytest.raises(SlotError, match="outside our opening hours on Tuesday"):
        validate_start(
            profile, svc(profile, "haircut"), datetime(2026, 6, 16, 9, 0, tzinfo=UTC), NOW
        )


def test_closed_day(profile: BusinessProfile) -> None:
    with pytest.raises(SlotError) as err:
        validate_start(profile, svc(profile, "haircut"), ny(2026, 6, 22, 10, 0), NOW)
    assert str(err.value) == "We're closed on Mondays."
    with pytest.raises(SlotError, match=r"^We're closed on Sundays\.$"):
        validate_start(profile, svc(profile, "haircut"), ny(2026, 6, 21, 10, 0), NOW)


def test_outside_hours_names_every_window(profile: BusinessProfile) -> None:
    with pytest.raises(SlotError) as err:
        validate_start(profile, svc(profile, "haircut"), ny(2026, 6, 18, 12, 30), NOW)
    assert str(err.value) == (
        "That time is outside our opening hours on Thursday (9:00 to 12:00 and 13:00 to 19:00)."
    )
    with pytest.raises(SlotError) as err:
        validate_start(profile, svc(profile, "haircut"), ny(2026, 6, 16, 17, 0), NOW)
    assert str(err.value) == "That time is outside our opening hours on Tuesday (9:00 to 17:00)."
    with pytest.raises(SlotError, match="outside our opening hours on Saturday"):
        validate_start(profile, svc(profile, "haircut"), ny(2026, 6, 20, 9, 30), NOW)


def test_service_running_past_closing(profile: BusinessProfile) -> None:
    color = svc(profile, "color")
    with pytest.raises(SlotError) as err:
        validate_start(profile, color, ny(2026, 6, 16, 16, 0), NOW)
    assert str(err.value) == (
        "Hair colouring takes 90 minutes and would run past closing time (17:00)."
    )
    # 15:30 + 90 minutes ends exactly at closing: allowed.
    assert validate_start(profile, color, ny(2026, 6, 16, 15, 30), NOW).end == ny(
        2026, 6, 16, 17, 0
    )


def test_service_running_into_the_midday_gap(profile: BusinessProfile) -> None:
    color = svc(profile, "color")
    with pytest.raises(SlotError) as err:
        validate_start(profile, color, ny(2026, 6, 18, 11, 0), NOW)
    assert str(err.value) == (
        "Hair colouring takes 90 minutes and would run past 12:00, when we close until 13:00."
    )
    assert validate_start(profile, color, ny(2026, 6, 18, 10, 30), NOW).id == "2026-06-18T10:30"
    assert validate_start(profile, color, ny(2026, 6, 18, 13, 0), NOW).id == "2026-06-18T13:00"


def test_past_and_now_are_rejected(profile: BusinessProfile) -> None:
    now = ny(2026, 6, 16, 10, 0)
    haircut = svc(profile, "haircut")
    for start in (ny(2026, 6, 16, 9, 30), now, ny(2025, 6, 17, 10, 0)):
        with pytest.raises(SlotError) as err:
            validate_start(profile, haircut, start, now)
        assert str(err.value) == "That time is in the past."
    assert validate_start(profile, haircut, ny(2026, 6, 16, 10, 30), now)


def test_alignment_messages(profile: BusinessProfile) -> None:
    haircut = svc(profile, "haircut")
    for start in (ny(2026, 6, 16, 9, 15), ny(2026, 6, 16, 9, 30, 30)):
        with pytest.raises(SlotError) as err:
            validate_start(profile, haircut, start, NOW)
        assert str(err.value) == "Appointments start on the half hour (every 30 minutes)."

    hourly = make_profile(slot_step_minutes=60)
    with pytest.raises(SlotError, match=r"^Appointments start on the hour\.$"):
        validate_start(hourly, svc(hourly, "haircut"), ny(2026, 6, 16, 9, 30), NOW)

    quarterly = make_profile(slot_step_minutes=15)
    assert validate_start(quarterly, svc(quarterly, "beard"), ny(2026, 6, 16, 9, 45), NOW)
    with pytest.raises(SlotError, match=r"^Appointments start on the quarter hour"):
        validate_start(quarterly, svc(quarterly, "beard"), ny(2026, 6, 16, 9, 50), NOW)

    # Alignment counts from the window's opening time, not from the top of the hour.
    odd = make_profile(hours={"tue": "09:15-17:00"})
    assert validate_start(odd, svc(odd, "haircut"), ny(2026, 6, 16, 9, 45), NOW)
    with pytest.raises(SlotError) as err:
        validate_start(odd, svc(odd, "haircut"), ny(2026, 6, 16, 10, 0), NOW)
    assert str(err.value) == "Appointments start every 30 minutes from 9:15."

    # Thursday's afternoon window counts from 13:00.
    twenty = make_profile(slot_step_minutes=40)
    assert validate_start(twenty, svc(twenty, "haircut"), ny(2026, 6, 18, 13, 40), NOW)
    with pytest.raises(SlotError, match="every 40 minutes from 13:00"):
        validate_start(twenty, svc(twenty, "haircut"), ny(2026, 6, 18, 13, 20), NOW)


def test_booking_horizon(profile: BusinessProfile) -> None:
    haircut = svc(profile, "haircut")
    # Today is Monday June 15 locally; 60 days ahead is Friday August 14.
    assert validate_start(profile, haircut, ny(2026, 8, 14, 16, 30), NOW)
    with pytest.raises(SlotError) as err:
        validate_start(profile, haircut, ny(2026, 8, 18, 9, 0), NOW)
    assert str(err.value) == "We only book up to 60 days ahead."


def test_naive_now_is_a_programming_error(profile: BusinessProfile) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_start(profile, svc(profile, "haircut"), ny(2026, 6, 16, 9), datetime(2026, 6, 1))


# --- free_slots -------------------------------------------------------------------------------


def test_free_slots_for_a_split_day(profile: BusinessProfile) -> None:
    slots = free_slots(
        profile, svc(profile, "color"), [], NOW, start_day=date(2026, 6, 18), days=1, limit=100
    )
    assert ids(slots) == [
        "2026-06-18T09:00",
        "2026-06-18T09:30",
        "2026-06-18T10:00",
        "2026-06-18T10:30",
        "2026-06-18T13:00",
        "2026-06-18T13:30",
        "2026-06-18T14:00",
        "2026-06-18T14:30",
        "2026-06-18T15:00",
        "2026-06-18T15:30",
        "2026-06-18T16:00",
        "2026-06-18T16:30",
        "2026-06-18T17:00",
        "2026-06-18T17:30",
    ]
    assert all(s.minutes == 90 for s in slots)


def test_free_slots_skip_closed_days_and_respect_limit(profile: BusinessProfile) -> None:
    # Default start day is "today" in the business zone: Monday, closed.
    slots = free_slots(profile, svc(profile, "haircut"), [], NOW, limit=3)
    assert ids(slots) == ["2026-06-16T09:00", "2026-06-16T09:30", "2026-06-16T10:00"]
    week = free_slots(profile, svc(profile, "haircut"), [], NOW, days=7, limit=1000)
    days = {s.start.date() for s in week}
    assert date(2026, 6, 15) not in days and date(2026, 6, 21) not in days
    # Tue, Wed, Fri: 16 each; Thu: 6 + 12; Sat: 8.
    assert len(week) == 16 * 3 + 18 + 8
    assert free_slots(profile, svc(profile, "haircut"), [], NOW, limit=0) == []


def test_free_slots_skip_the_past(profile: BusinessProfile) -> None:
    now = ny(2026, 6, 16, 15, 10)
    slots = free_slots(profile, svc(profile, "haircut"), [], now, limit=4)
    assert ids(slots) == [
        "2026-06-16T15:30",
        "2026-06-16T16:00",
        "2026-06-16T16:30",
        "2026-06-17T09:00",
    ]
    # A start exactly at `now` is already gone.
    slots = free_slots(profile, svc(profile, "haircut"), [], ny(2026, 6, 16, 16, 0), limit=1)
    assert ids(slots) == ["2026-06-16T16:30"]


def test_free_slots_exclude_busy_intervals(profile: BusinessProfile) -> None:
    busy = [
        (ny(2026, 6, 16, 10, 0), ny(2026, 6, 16, 10, 30)),
        # Given in UTC: 13:00-14:00 local.
        (datetime(2026, 6, 16, 17, 0, tzinfo=UTC), datetime(2026, 6, 16, 18, 0, tzinfo=UTC)),
    ]
    day = date(2026, 6, 16)
    haircut = free_slots(
        profile, svc(profile, "haircut"), busy, NOW, start_day=day, days=1, limit=100
    )
    starts = [s.start.strftime("%H:%M") for s in haircut]
    assert "10:00" not in starts and "13:00" not in starts and "13:30" not in starts
    # Touching a busy interval is fine: [9:30, 10:00) and [10:30, 11:00) are free.
    assert "09:30" in starts and "10:30" in starts and "14:00" in starts
    assert len(starts) == 16 - 3

    color = free_slots(profile, svc(profile, "color"), busy, NOW, start_day=day, days=1, limit=100)
    assert [s.start.strftime("%H:%M") for s in color] == [
        "10:30",
        "11:00",
        "11:30",
        "14:00",
        "14:30",
        "15:00",
        "15:30",
    ]


def test_free_slots_stop_at_the_horizon() -> None:
    profile = make_profile(booking_horizon_days=2)
    haircut = svc(profile, "haircut")
    slots = free_slots(profile, haircut, [], NOW, days=14, limit=1000)
    # Mon (closed), Tue, Wed only.
    assert {s.start.date() for s in slots} == {date(2026, 6, 16), date(2026, 6, 17)}
    assert free_slots(profile, haircut, [], NOW, start_day=date(2026, 6, 18), days=3) == []


def test_business_day_follows_the_business_zone_not_utc(profile: BusinessProfile) -> None:
    # 02:00 UTC on Wednesday is still Tuesday 22:00 in New York: "today" is Tuesday, all of
    # Tuesday's slots are past, and the first free one is Wednesday 09:00 local (13:00 UTC).
    now = datetime(2026, 6, 17, 2, 0, tzinfo=UTC)
    slots = free_slots(profile, svc(profile, "haircut"), [], now, days=1)
    assert slots == []
    slots = free_slots(profile, svc(profile, "haircut"), [], now, days=2, limit=1)
    assert slots[0].start.astimezone(UTC) == datetime(2026, 6, 17, 13, 0, tzinfo=UTC)
    assert slots[0].id == "2026-06-17T09:00"

    utc = make_profile(timezone="UTC")
    first = free_slots(utc, svc(utc, "haircut"), [], now, limit=1)[0]
    assert first.start == datetime(2026, 6, 17, 9, 0, tzinfo=UTC)


def test_every_free_slot_validates(profile: BusinessProfile) -> None:
    for service in desk(profile).services:
        for slot in free_slots(profile, service, [], NOW, days=21, limit=10_000):
            assert validate_start(profile, service, slot.start, NOW) == slot


# --- DST ------------------------------------------------------------------------------------

DAILY = {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.mark.parametrize(
    ("before", "after", "utc_before", "utc_after"),
    [
        # Spring forward (Sunday 2026-03-08 02:00): 09:00 is 14:00Z before, 13:00Z after.
        (date(2026, 3, 7), date(2026, 3, 8), 14, 13),
        # Fall back (Sunday 2026-11-01 02:00): 09:00 is 13:00Z before, 14:00Z after.
        (date(2026, 10, 31), date(2026, 11, 1), 13, 14),
    ],
)
def test_dst_keeps_local_opening_times(
    before: date, after: date, utc_before: int, utc_after: int
) -> None:
    profile = make_profile(hours=DAILY)
    color = svc(profile, "color")
    now = datetime.combine(before, datetime.min.time(), tzinfo=UTC) - timedelta(days=1)
    slots = free_slots(profile, color, [], now, start_day=before, days=2, limit=1000)
    by_day = {d: [s for s in slots if s.start.date() == d] for d in (before, after)}
    for d, utc_hour in ((before, utc_before), (after, utc_after)):
        day_slots = by_day[d]
        assert day_slots[0].id == f"{d.isoformat()}T09:00"
        assert day_slots[0].start.astimezone(UTC).hour == utc_hour
        assert day_slots[-1].id == f"{d.isoformat()}T15:30"
        assert len(day_slots) == 14
        assert all(s.minutes == 90 for s in day_slots)
        assert all(
            s.end.astimezone(UTC) - s.start.astimezone(UTC) == timedelta(minutes=90)
            for s in day_slots
        )


def test_spring_forward_inside_a_window() -> None:
    # Open through the night: 02:00-02:59 does not exist on 2026-03-08.
    profile = make_profile(hours={"sun": "00:00-05:00"})
    hour = Service(id="long", name="Long session", duration_minutes=60)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    slots = free_slots(profile, hour, [], now, start_day=date(2026, 3, 8), days=1, limit=100)
    assert ids(slots) == [
        "2026-03-08T00:00",
        "2026-03-08T00:30",
        "2026-03-08T01:00",
        "2026-03-08T01:30",
        "2026-03-08T03:00",
        "2026-03-08T03:30",
        "2026-03-08T04:00",
    ]
    # 01:30 EST + 60 real minutes is 03:30 EDT, not the non-existent 02:30.
    at_130 = slots[3]
    assert at_130.end == ny(2026, 3, 8, 3, 30)
    assert at_130.minutes == 60
    # The window closes at 05:00 EDT, only 4 real hours after midnight.
    window = validate_start(profile, hour, ny(2026, 3, 8, 4, 0), now)
    assert window.end.astimezone(UTC) == datetime(2026, 3, 8, 9, 0, tzinfo=UTC)

    with pytest.raises(SlotError) as err:
        validate_start(profile, hour, datetime(2026, 3, 8, 2, 30), now)
    assert str(err.value) == (
        "The clocks go forward that night, so 2:30 am doesn't exist on Sunday March 8."
    )
    with pytest.raises(SlotError, match="clocks go forward"):
        parse_slot_id(profile, "2026-03-08T02:00")


def test_fall_back_inside_a_window() -> None:
    # 01:00-01:59 happens twice on 2026-11-01; both are real, bookable instants.
    profile = make_profile(hours={"sun": "00:00-03:00"})
    hour = Service(id="long", name="Long session", duration_minutes=60)
    now = datetime(2026, 10, 1, tzinfo=UTC)
    slots = free_slots(profile, hour, [], now, start_day=date(2026, 11, 1), days=1, limit=100)
    assert ids(slots) == [
        "2026-11-01T00:00",
        "2026-11-01T00:30",
        "2026-11-01T01:00-04:00",
        "2026-11-01T01:30-04:00",
        "2026-11-01T01:00-05:00",
        "2026-11-01T01:30-05:00",
        "2026-11-01T02:00",
    ]
    utc = [s.start.astimezone(UTC) for s in slots]
    assert utc == sorted(utc)
    assert all(b - a == timedelta(minutes=30) for a, b in itertools.pairwise(utc))
    # Midnight to 03:00 EST is four real hours: 00:00 + 60 minutes ends at 01:00 EDT.
    assert slots[0].end.astimezone(UTC) == datetime(2026, 11, 1, 5, 0, tzinfo=UTC)
    for slot in slots:
        # Datetimes sharing a tzinfo compare by wall time and ignore fold, so compare in UTC.
        parsed = parse_slot_id(profile, slot.id)
        assert parsed.astimezone(UTC) == slot.start.astimezone(UTC)
        again = validate_start(profile, hour, parsed, now)
        assert again.id == slot.id
        assert again.end.astimezone(UTC) == slot.end.astimezone(UTC)
    assert describe_slot(profile, slots[2], now) == "Sunday November 1 at 1 am EDT"
    assert describe_slot(profile, slots[4], now) == "Sunday November 1 at 1 am EST"


# --- ids and descriptions ---------------------------------------------------------------------


def test_slot_id_round_trip(profile: BusinessProfile) -> None:
    for slot in free_slots(profile, svc(profile, "color"), [], NOW, days=14, limit=1000):
        start = parse_slot_id(profile, slot.id)
        assert start == slot.start
        assert start.tzinfo == NY
        assert validate_start(profile, svc(profile, "color"), start, NOW) == slot


def test_parse_slot_id_accepts_what_models_echo(profile: BusinessProfile) -> None:
    expected = ny(2026, 6, 16, 9, 30)
    for text in (
        "2026-06-16T09:30",
        " 2026-06-16T09:30 ",
        "2026-06-16 09:30",
        "2026-06-16T09:30:00",
        "2026-06-16T09:30:00-04:00",
        "2026-06-16T13:30:00Z",
    ):
        assert parse_slot_id(profile, text) == expected, text


@pytest.mark.parametrize(
    "garbage", ["", "tomorrow at 9", "2026-06-16", "2026-13-40T09:30", "slot_3", "9:30"]
)
def test_parse_slot_id_rejects_garbage(profile: BusinessProfile, garbage: str) -> None:
    with pytest.raises(SlotError) as err:
        parse_slot_id(profile, garbage)
    message = str(err.value)
    assert message.startswith("I couldn't read")
    assert "2026-06-16T09:30" in message
    assert message.endswith(".")


def test_describe_slot(profile: BusinessProfile) -> None:
    slot = validate_start(profile, svc(profile, "haircut"), ny(2026, 6, 16, 9, 30), NOW)
    assert describe_slot(profile, slot, NOW) == "Tuesday June 16 at 9:30 am"
    slot = validate_start(profile, svc(profile, "haircut"), ny(2026, 6, 16, 14, 0), NOW)
    assert describe_slot(profile, slot, NOW) == "Tuesday June 16 at 2 pm"
    slot = validate_start(profile, svc(profile, "haircut"), ny(2026, 6, 16, 12, 30), NOW)
    assert describe_slot(profile, slot, NOW) == "Tuesday June 16 at 12:30 pm"
    # The year is spoken only when it is not this year.
    late = datetime(2026, 12, 20, 15, 0, tzinfo=UTC)
    slot = validate_start(profile, svc(profile, "haircut"), ny(2027, 1, 5, 9, 0), late)
    assert describe_slot(profile, slot, late) == "Tuesday January 5, 2027 at 9 am"


def test_default_profile_works_end_to_end() -> None:
    profile = load_profile()
    color = svc(profile, "color")
    slots = free_slots(profile, color, [], NOW, limit=2)
    assert len(slots) == 2
    assert describe_slot(profile, slots[0], NOW) == "Tuesday June 16 at 9 am"
    with pytest.raises(SlotError, match="We're closed on Mondays"):
        validate_start(profile, color, parse_slot_id(profile, "2026-06-22T10:00"), NOW)
