"""simulate/crewkit.py: the generic `expect: store:` / `expect: crew:` subset match, and a crew
with no scenario vocabulary of its own (only the engine's keys)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from callcrew.call import CallInfo, CallState, CrewOutcome
from callcrew.crews import LoadedCrew
from callcrew.profile import BusinessProfile
from callcrew.simulate.crewkit import NO_REHEARSAL, rehearsal_of, subset_problem
from callcrew.simulate.scenario import ScenarioError, parse_scenario

pytestmark = pytest.mark.unit

SNAPSHOT: dict[str, Any] = {
    "orders": [
        {"id": 1, "item": "margherita", "at": datetime(2026, 6, 16, 13, 30, tzinfo=UTC)},
        {"id": 2, "item": "calzone", "at": datetime(2026, 6, 16, 14, 0, tzinfo=UTC)},
    ],
    "open": True,
}


@pytest.mark.parametrize(
    ("want", "problem"),
    [
        ({}, None),
        ({"open": True}, None),
        ({"orders": 2}, None),  # a number against a list: its length
        ({"orders": [{"item": "calzone"}, {"item": "margherita"}]}, None),  # any order
        # Times compare in the business's zone (New York: 13:30 UTC is 09:30 local).
        ({"orders": [{"at": "2026-06-16T09:30"}, {"at": datetime(2026, 6, 16, 10, 0)}]}, None),
        ({"orders": 3}, "store.orders: expected 3 item(s), got 2"),
        ({"orders": [{"item": "calzone"}]}, "store.orders: expected 1 item(s), got 2"),
        (
            {"orders": [{"item": "calzone"}, {"item": "calzone"}]},
            "store.orders[1]: no item matches {'item': 'calzone'}",
        ),
        ({"open": 1}, "store.open: expected 1, got True"),
        ({"tables": []}, "store.tables: missing (has orders, open)"),
        ({"open": {"x": 1}}, "store.open: expected a mapping, got True"),
    ],
)
def test_subset_matching(profile: BusinessProfile, want: Any, problem: str | None) -> None:
    got = subset_problem(want, SNAPSHOT, profile, "store")
    if problem is None:
        assert got is None
    else:
        assert got is not None and got.startswith(problem), got


class _Pizzeria:
    """A crew with its own outcome and no scenario vocabulary."""

    name = "pizzeria"
    outcomes = (CrewOutcome("order_placed", "an order was placed"),)

    async def new_call(self, info: CallInfo, ctx: Any) -> CallState:
        raise NotImplementedError

    def first_agent(self, state: CallState) -> Any:
        return None

    def voicemail_message(self, state: CallState) -> str:
        return "hi"


def test_a_crew_without_a_rehearsal_kit_has_only_the_engines_keys() -> None:
    crew = LoadedCrew(_Pizzeria(), "pizzeria")
    assert rehearsal_of(crew) is NO_REHEARSAL
    base = {"name": "x", "channel": "web", "turns": [{"caller": "Hi"}]}
    s = parse_scenario(
        {**base, "expect": {"outcome": "order_placed", "store": {}, "crew": {"n": 1}}},
        crew=crew,
    )
    assert s.expect.outcome == "order_placed" and s.expect.crew == {"n": 1}
    with pytest.raises(ScenarioError, match=r"expect\.appointments: Extra inputs"):
        parse_scenario({**base, "expect": {"appointments": []}}, crew=crew)
    with pytest.raises(ScenarioError, match=r"expect\.outcome: unknown outcome 'booked'; one of"):
        parse_scenario({**base, "expect": {"outcome": "booked"}}, crew=crew)
    # Its `data:` goes to its own seed hook as it is (the default refuses a non-empty one).
    assert parse_scenario({**base, "data": {"menu": ["x"]}}, crew=crew).seed_data() == {
        "menu": ["x"]
    }


PIZZERIA = _Pizzeria()  # CREW=tests.test_crewkit:PIZZERIA (test_simulate)
