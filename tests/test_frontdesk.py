"""frontdesk's conventions on our desk: available_slots held in the real store, tags, the file
shape (label, userdata, no turns)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from agents.desk_profile import desk
from agents.scheduling import free_slots

from callcrew.call import Channel
from callcrew.profile import BusinessProfile
from callcrew.simulate.frontdesk import (
    profile_for_slots,
    release_holds,
    seed_available_slots,
    select_tags,
)
from callcrew.simulate.scenario import ScenarioError, load_scenarios
from callcrew.store import Store

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 12, 13, 0, tzinfo=UTC)  # Friday 09:00 at the salon


def _free(store: Store, profile: BusinessProfile, days: int = 70) -> list[str]:
    tz = profile.tz
    first = NOW.astimezone(tz).replace(hour=0, minute=0)
    busy = store.crew_data.appointments.busy_between(first, first + timedelta(days=days + 1))
    service = desk(profile).service("haircut")
    assert service is not None
    slots = free_slots(profile, service, busy, NOW, days=days, limit=5000)
    return [s.id for s in slots]


def test_available_slots_are_the_only_free_times(store: Store, profile: BusinessProfile) -> None:
    # Monday is closed and 8:30 is before opening at the salon: hours widen to hold them.
    listed = [datetime(2026, 6, 15, 14, 0), datetime(2026, 6, 16, 8, 30), datetime(2026, 7, 16, 13)]
    desk = profile_for_slots(profile, listed)
    seed_available_slots(store, desk, listed, NOW)
    assert _free(store, desk) == ["2026-06-15T14:00", "2026-06-16T08:30", "2026-07-16T13:00"]
    # The unchanged days keep their hours; Monday gains just the listed half hour.
    assert desk.hours["tue"][0].open.isoformat() == "08:30:00"
    assert [(w.open.isoformat(), w.close.isoformat()) for w in desk.hours["mon"]] == [
        ("14:00:00", "14:30:00")
    ]


def test_an_empty_list_leaves_nothing_free(store: Store, profile: BusinessProfile) -> None:
    seed_available_slots(store, profile, [], NOW)
    assert _free(store, profile) == []


def test_releasing_the_holds_leaves_only_the_calls_work(
    store: Store, profile: BusinessProfile
) -> None:
    listed = [datetime(2026, 6, 16, 10, 0)]
    seed_available_slots(store, profile, listed, NOW)
    dana = store.crew_data.customers.create("Dana Whitfield")
    tz = profile.tz
    start = datetime(2026, 6, 16, 10, 0, tzinfo=tz)
    store.crew_data.appointments.book(dana.id, "haircut", start, start + timedelta(minutes=30))
    release_holds(store)
    assert [c.name for c in store.crew_data.customers.all()] == ["Dana Whitfield"]
    assert [(a.customer_id, a.service_id) for a in store.crew_data.appointments.all()] == [
        (dana.id, "haircut")
    ]


FRONTDESK = """\
    name: A desk
    scenarios:
      - label: Opens with a date
        instructions: You are Ken Watanabe. Ask for July 16.
        agent_expectations: Books July 16 at 1 pm.
        tags: {feature: booking}
        userdata:
          available_slots: ["2026-07-16T13:00:00"]
          expected_booking: "2026-07-16T13:00:00"
      - label: Nothing free
        instructions: You are Lena Fischer.
        tags: {feature: adversarial}
        userdata:
          now: "2026-06-13T10:00:00"
          available_slots: []
          expected_booking: null
    """


def test_a_frontdesk_file_reads_as_is(tmp_path: Path) -> None:
    path = tmp_path / "scenarios.yaml"
    path.write_text(textwrap.dedent(FRONTDESK))
    first, second = load_scenarios(path)
    assert first.name == "Opens with a date" and first.turns == []
    assert first.channel is Channel.WEB and first.caller is None
    assert first.available_slots == [datetime(2026, 7, 16, 13, 0)]
    assert first.expect.booked_on_call == [datetime(2026, 7, 16, 13, 0)]
    assert second.available_slots == [] and second.expect.booked_on_call == []
    assert second.now == datetime(2026, 6, 13, 10, 0)
    assert [s.name for s in select_tags([first, second], ["adversarial"])] == ["Nothing free"]
    assert [s.name for s in select_tags([first, second], ["feature=booking"])] == [first.name]
    assert select_tags([first, second], ["feature=other"]) == []
    assert len(select_tags([first, second], [])) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("label: x\n", "needs 'turns' (scripted caller lines) or 'instructions'"),
        ("label: x\ninstructions: hi\njudges: [kindness]\n", "unknown judge(s) kindness"),
    ],
)
def test_what_a_scenario_cannot_be(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_scenarios(path)
