"""The desk's rehearsal store: frontdesk's available_slots held in the real store, the seed's
clear errors, and the snapshot `expect: store:` matches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from agents.desk_profile import desk
from agents.desk_store import desk_data
from agents.rehearsal.store import (
    profile_for_slots,
    seed_available_slots,
    seed_store,
    snapshot_store,
)
from agents.scheduling import free_slots

from callcrew.errors import UserError
from callcrew.profile import BusinessProfile
from callcrew.store import Store

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 12, 13, 0, tzinfo=UTC)  # Friday 09:00 at the salon


def _free(store: Store, profile: BusinessProfile, days: int = 70) -> list[str]:
    tz = profile.tz
    first = NOW.astimezone(tz).replace(hour=0, minute=0)
    busy = desk_data(store).appointments.busy_between(first, first + timedelta(days=days + 1))
    service = desk(profile).service("haircut")
    assert service is not None
    slots = free_slots(profile, service, busy, NOW, days=days, limit=5000)
    return [s.id for s in slots]


def test_available_slots_are_the_only_free_times(store: Store, profile: BusinessProfile) -> None:
    # Monday is closed and 8:30 is before opening at the salon: hours widen to hold them.
    listed = [datetime(2026, 6, 15, 14, 0), datetime(2026, 6, 16, 8, 30), datetime(2026, 7, 16, 13)]
    widened = profile_for_slots(profile, listed)
    seed_available_slots(store, widened, listed, NOW)
    assert _free(store, widened) == ["2026-06-15T14:00", "2026-06-16T08:30", "2026-07-16T13:00"]
    # The unchanged days keep their hours; Monday gains just the listed half hour.
    assert widened.hours["tue"][0].open.isoformat() == "08:30:00"
    assert [(w.open.isoformat(), w.close.isoformat()) for w in widened.hours["mon"]] == [
        ("14:00:00", "14:30:00")
    ]


def test_an_empty_list_leaves_nothing_free(store: Store, profile: BusinessProfile) -> None:
    seed_available_slots(store, profile, [], NOW)
    assert _free(store, profile) == []


def test_the_snapshot_leaves_the_holds_out(store: Store, profile: BusinessProfile) -> None:
    listed = [datetime(2026, 6, 16, 10, 0)]
    seed_available_slots(store, profile, listed, NOW)
    dana = desk_data(store).customers.create("Dana Whitfield")
    tz = profile.tz
    start = datetime(2026, 6, 16, 10, 0, tzinfo=tz)
    desk_data(store).appointments.book(dana.id, "haircut", start, start + timedelta(minutes=30))
    snap = snapshot_store(store)
    assert [c["name"] for c in snap["customers"]] == ["Dana Whitfield"]
    assert [(a["customer_name"], a["service"], a["start"]) for a in snap["appointments"]] == [
        ("Dana Whitfield", "haircut", start)
    ]


def test_seeding_books_local_times_and_says_what_is_wrong(
    store: Store, profile: BusinessProfile
) -> None:
    data = {
        "customers": [{"name": "Ann", "phone": "+15550100001"}],
        "appointments": [
            {"customer": "Ann", "service": "haircut", "start": datetime(2026, 6, 16, 9, 0)},
            {
                "customer": "+15550100001",
                "service": "haircut",
                "start": datetime(2026, 6, 17, 9, 0),
                "status": "cancelled",
            },
        ],
    }
    seed_store(store, data, NOW, profile)
    snap = snapshot_store(store)
    assert [
        (a["start"].astimezone(profile.tz).hour, a["status"]) for a in snap["appointments"]
    ] == [
        (9, "booked"),
        (9, "cancelled"),
    ]
    assert snap["customers"] == [{"id": 1, "name": "Ann", "phone": "+15550100001"}]
    with pytest.raises(UserError, match=r"data\.appointments: unknown service 'perm'"):
        seed_store(
            store,
            {
                "appointments": [
                    {"customer": "Ann", "service": "perm", "start": "2026-06-18T09:00"}
                ],
                "customers": [{"name": "Ann"}],
            },
            NOW,
            profile,
        )
    with pytest.raises(UserError, match=r"data\.customers\.0\.phone: '555' is not an E\.164"):
        seed_store(store, {"customers": [{"name": "Bo", "phone": "555"}]}, NOW, profile)
