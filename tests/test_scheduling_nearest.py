"""scheduling.nearest_free and the day helpers: a caller's own time, DST, hours, durations."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from agents.scheduling import (
    closed_on,
    hours_on,
    nearest_free,
    next_open_days,
    spoken_day,
    spoken_time,
)

from callcrew.profile import BusinessProfile
from tests.test_scheduling import NOW, NY, ids, make_profile, ny, svc

pytestmark = pytest.mark.unit


@pytest.fixture
def profile() -> BusinessProfile:
    return make_profile()


def busy(*starts: datetime, minutes: int = 30) -> list[tuple[datetime, datetime]]:
    from datetime import timedelta

    return [(s, s + timedelta(minutes=minutes)) for s in starts]


def test_a_free_time_is_returned_alone(profile: BusinessProfile) -> None:
    near = nearest_free(profile, svc(profile, "haircut"), [], NOW, ny(2026, 6, 19, 11, 0))
    assert ids(list(near.inside)) == ["2026-06-19T11:00"]
    assert near.before is None and near.after is None


def test_a_taken_time_gives_the_nearest_free_before_and_after(profile: BusinessProfile) -> None:
    taken = busy(ny(2026, 6, 18, 13, 0), minutes=120)
    near = nearest_free(profile, svc(profile, "haircut"), taken, NOW, ny(2026, 6, 18, 14, 0))
    assert near.inside == ()
    assert near.before is not None and near.after is not None
    # Thursday's lunch break (12:00-13:00) is skipped going back: the last morning slot.
    assert near.before.id == "2026-06-18T11:30"
    assert near.after.id == "2026-06-18T15:00"


def test_a_time_off_the_step_or_outside_hours_still_gets_neighbours(
    profile: BusinessProfile,
) -> None:
    haircut = svc(profile, "haircut")
    near = nearest_free(profile, haircut, [], NOW, ny(2026, 6, 16, 9, 15))
    assert [near.before and near.before.id, near.after and near.after.id] == [
        "2026-06-16T09:00",
        "2026-06-16T09:30",
    ]
    evening = nearest_free(profile, haircut, [], NOW, ny(2026, 6, 16, 18, 0))
    assert evening.before is not None and evening.before.id == "2026-06-16T16:30"
    # Next open day after Tuesday evening is Wednesday morning.
    assert evening.after is not None and evening.after.id == "2026-06-17T09:00"


def test_a_long_service_is_not_offered_past_closing(profile: BusinessProfile) -> None:
    # A 90-minute colouring cannot start at 16:00 on a 17:00 close: nearest before is 15:30.
    near = nearest_free(profile, svc(profile, "color"), [], NOW, ny(2026, 6, 16, 16, 0))
    assert near.inside == ()
    assert near.before is not None and near.before.id == "2026-06-16T15:30"
    assert near.before.minutes == 90


def test_a_window_returns_the_free_starts_inside_it(profile: BusinessProfile) -> None:
    taken = busy(ny(2026, 6, 17, 13, 30))
    near = nearest_free(
        profile, svc(profile, "haircut"), taken, NOW, ny(2026, 6, 17, 13, 0), ny(2026, 6, 17, 15)
    )
    assert ids(list(near.inside)) == ["2026-06-17T13:00", "2026-06-17T14:00", "2026-06-17T14:30"]


def test_a_full_window_gives_neighbours_outside_it(profile: BusinessProfile) -> None:
    taken = busy(ny(2026, 6, 17, 13, 0), minutes=120)
    near = nearest_free(
        profile, svc(profile, "haircut"), taken, NOW, ny(2026, 6, 17, 13, 0), ny(2026, 6, 17, 15)
    )
    assert near.inside == ()
    assert near.before is not None and near.before.id == "2026-06-17T12:30"
    assert near.after is not None and near.after.id == "2026-06-17T15:00"


def test_nothing_before_now_is_offered(profile: BusinessProfile) -> None:
    now = ny(2026, 6, 16, 10, 10).astimezone(UTC)
    near = nearest_free(profile, svc(profile, "haircut"), [], now, ny(2026, 6, 16, 9, 0))
    assert near.before is None
    assert near.after is not None and near.after.id == "2026-06-16T10:30"


def test_a_window_ending_before_it_starts_is_refused(profile: BusinessProfile) -> None:
    with pytest.raises(ValueError):
        nearest_free(
            profile, svc(profile, "haircut"), [], NOW, ny(2026, 6, 17, 15), ny(2026, 6, 17, 13)
        )


def test_dst_end_keeps_wall_clock_neighbours() -> None:
    # Clocks go back at 02:00 on Sunday November 1 2026; open that Sunday 09:00-12:00 only.
    profile = make_profile(hours={"sun": "09:00-12:00", "mon": "09:00-12:00"})
    now = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
    taken = busy(datetime(2026, 11, 1, 10, 0, tzinfo=NY))
    near = nearest_free(profile, svc(profile, "haircut"), taken, now, datetime(2026, 11, 1, 10, 0))
    assert near.before is not None and near.after is not None
    assert near.before.id == "2026-11-01T09:30" and near.after.id == "2026-11-01T10:30"
    assert near.before.start.utcoffset() == near.after.start.utcoffset()  # EST both
    assert near.after.minutes == 30


def test_dst_start_skipped_wall_time_is_a_clear_error() -> None:
    # 02:30 does not exist on Sunday March 8 2026 in New York.
    from agents.scheduling import SlotError

    profile = make_profile(hours={"sun": "01:00-05:00"})
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with pytest.raises(SlotError, match="clocks go forward"):
        nearest_free(profile, svc(profile, "haircut"), [], now, datetime(2026, 3, 8, 2, 30))
    near = nearest_free(profile, svc(profile, "haircut"), [], now, datetime(2026, 3, 8, 3, 0))
    assert ids(list(near.inside)) == ["2026-03-08T03:00"]
    assert near.inside[0].start.utcoffset() != datetime(2026, 3, 8, 1, 0, tzinfo=NY).utcoffset()


def test_next_open_days_skip_closed_ones(profile: BusinessProfile) -> None:
    # Saturday June 20 -> (Sunday, Monday closed) -> Tuesday, Wednesday.
    assert next_open_days(profile, date(2026, 6, 20), NOW) == [date(2026, 6, 23), date(2026, 6, 24)]
    assert closed_on(profile, date(2026, 6, 21)) and not closed_on(profile, date(2026, 6, 20))


def test_next_open_days_stop_at_the_booking_horizon() -> None:
    profile = make_profile(booking_horizon_days=3)
    # Monday June 15 + 3 days = Thursday June 18; after Wednesday only Thursday is bookable.
    assert next_open_days(profile, date(2026, 6, 17), NOW, count=5) == [date(2026, 6, 18)]


def test_hours_and_spoken_forms(profile: BusinessProfile) -> None:
    assert hours_on(profile, date(2026, 6, 18)) == "9:00 to 12:00 and 13:00 to 19:00"
    assert hours_on(profile, date(2026, 6, 21)) == "closed"
    assert spoken_day(profile, date(2026, 6, 18), NOW) == "Thursday June 18"
    assert spoken_day(profile, date(2027, 1, 5), NOW) == "Tuesday January 5, 2027"
    assert spoken_time(ny(2026, 6, 18, 14, 30)) == "2:30 pm"
    assert spoken_time(ny(2026, 6, 18, 12, 0)) == "12 pm"
