"""call.py: the outcome a call keeps, engine and crew outcomes alike."""

from __future__ import annotations

from typing import Any

import pytest
from agents.outcomes import DeskOutcome

from callcrew.call import Outcome

pytestmark = pytest.mark.unit


async def test_an_achieved_outcome_survives_how_the_call_ended(make_call: Any) -> None:
    state, _ = await make_call()
    state.set_outcome(DeskOutcome.BOOKED)
    for ending in (Outcome.COMPLETED, Outcome.SILENT, Outcome.TIME_LIMIT):
        state.set_outcome(ending)
    assert state.outcome == "booked"


async def test_an_outcome_not_achieved_gives_way_to_the_ending(make_call: Any) -> None:
    state, _ = await make_call()
    state.set_outcome(DeskOutcome.INFO)
    state.set_outcome(Outcome.COMPLETED)
    assert state.outcome is Outcome.COMPLETED


async def test_an_engine_outcome_is_kept_as_the_engines_value(make_call: Any) -> None:
    state, _ = await make_call()
    state.set_outcome("transferred")
    state.set_outcome(Outcome.COMPLETED)
    assert state.outcome is Outcome.TRANSFERRED


async def test_an_unknown_outcome_is_a_crew_bug(make_call: Any) -> None:
    state, _ = await make_call()
    with pytest.raises(ValueError, match=r"unknown outcome .order_placed.; one of .*booked"):
        state.set_outcome("order_placed")
    assert state.outcome is Outcome.IN_PROGRESS
