"""crews.py: a crew declares only what it has; what it declares is checked in one line."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from callcrew.call import (
    CallInfo,
    CallState,
    Channel,
    CrewOutcome,
    Outcome,
    ProfileSection,
    Purpose,
)
from callcrew.crews import CrewNotFound, LoadedCrew, known_outcomes, load_crew
from callcrew.errors import UserError

pytestmark = pytest.mark.unit


class _Minimal:
    """The least a crew must have."""

    name = "minimal"

    async def new_call(self, info: CallInfo, ctx: Any) -> CallState:
        return CallState(
            info=info,
            control=ctx.control,
            store=ctx.store,
            profile=ctx.profile,
            now=lambda: datetime.now(UTC),
        )

    def first_agent(self, state: CallState) -> Any:
        return None

    def voicemail_message(self, state: CallState) -> str:
        return "hello"


class _Order(BaseModel):
    order_id: int


@pytest.fixture
def crew_module() -> Iterator[types.ModuleType]:
    module = types.ModuleType("fake_crews_for_test")
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


def _load(module: types.ModuleType, obj: object) -> LoadedCrew:
    module.CREW = obj  # type: ignore[attr-defined]
    return load_crew(f"{module.__name__}:CREW")


def test_a_minimal_crew_gets_the_engine_defaults(crew_module: types.ModuleType) -> None:
    crew = _load(crew_module, _Minimal())
    assert crew.outcomes == () and crew.purposes == ()
    assert crew.profile_section is None and crew.tables is None
    assert crew.purpose_names() == ["custom"]
    assert crew.snapshot(store=None) == {}  # type: ignore[arg-type]
    assert crew.default_profile() is None and crew.demo_scenario() is None
    assert crew.list_nouns == frozenset()  # the engine's own list nouns only
    crew.seed(store=None, data={}, now=datetime.now(UTC), profile=None)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="keeps no data"):
        crew.seed(None, {"orders": []}, datetime.now(UTC), None)  # type: ignore[arg-type]


async def test_the_loaded_crew_binds_its_outcomes_to_each_call(
    crew_module: types.ModuleType, make_call: Any
) -> None:
    minimal = _Minimal()
    minimal.outcomes = (CrewOutcome("order_placed", "an order was placed"),)  # type: ignore[attr-defined]
    crew = _load(crew_module, minimal)
    desk_state, control = await make_call()
    ctx = types.SimpleNamespace(control=control, store=desk_state.store, profile=desk_state.profile)
    state = await crew.new_call(CallInfo(channel=Channel.WEB, room="r"), ctx)  # type: ignore[arg-type]
    state.set_outcome("order_placed")
    assert state.outcome == "order_placed"
    with pytest.raises(ValueError, match="unknown outcome 'booked'"):
        state.set_outcome("booked")  # the desk's, not this crew's
    assert "order_placed" in crew.outcome_names() and "completed" in crew.outcome_names()


@pytest.mark.parametrize(
    ("member", "value", "message"),
    [
        ("outcomes", (CrewOutcome("Booked!", "x"),), "must match"),
        ("outcomes", (CrewOutcome("completed", "x"),), "already the engine's"),
        ("outcomes", (CrewOutcome("a", "x"), CrewOutcome("a", "y")), "declared twice"),
        ("outcomes", ("booked",), "CrewOutcome objects"),
        ("purposes", (Purpose("custom", "x", _Order),), "the engine's or declared twice"),
        ("purposes", (Purpose("Re-mind", "x", _Order),), "must match"),
        ("profile_section", ProfileSection("timezone", _Order), "clashes with the engine's"),
        ("profile_section", ProfileSection("Desk", _Order), "must match"),
        ("list_nouns", "toppings", "must be a set of words"),  # not its letters
        ("list_nouns", frozenset({"Toppings"}), "one lower-case word"),
        ("list_nouns", frozenset({"side dishes"}), "one lower-case word"),
    ],
)
def test_what_a_crew_declares_is_checked_in_one_line(
    crew_module: types.ModuleType, member: str, value: object, message: str
) -> None:
    crew = _Minimal()
    setattr(crew, member, value)
    with pytest.raises(CrewNotFound, match=message) as err:
        _load(crew_module, crew)
    assert "\n" not in str(err.value) and "CREW='fake_crews_for_test:CREW'" in str(err.value)


def test_a_crew_missing_a_required_member_is_refused(crew_module: types.ModuleType) -> None:
    crew_module.CREW = object()  # type: ignore[attr-defined]
    with pytest.raises(CrewNotFound, match=r"has no new_call\(\), first_agent\(\)"):
        load_crew("fake_crews_for_test:CREW")


def test_the_desk_declares_its_outcomes_and_loads_without_livekits_framework() -> None:
    crew = load_crew("default")
    assert {"booked", "rescheduled", "cancelled", "info", "survey_done", "confirmed"} <= set(
        crew.outcome_names()
    )
    assert "booked" not in {o.value for o in Outcome}
    assert known_outcomes("no-such-crew") == sorted(o.value for o in Outcome)


def test_the_contract_reference_names_every_member_of_the_crew_protocol() -> None:
    from pathlib import Path

    from callcrew.call import Crew

    doc = (Path(__file__).resolve().parents[1] / "docs" / "crew-contract.md").read_text()
    members = set(Crew.__annotations__) | {
        name for name in vars(Crew) if not name.startswith("_") and callable(vars(Crew)[name])
    }
    missing = sorted(m for m in members if f"`{m}" not in doc)
    assert not missing, f"docs/crew-contract.md does not describe {missing}"
