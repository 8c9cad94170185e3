"""What the caller hears while we recover: the crew's plan when a block has failed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from agents.crew import CREW
from agents.outcomes import DeskOutcome

from callcrew.call import Channel, Outcome
from callcrew.providers.recovery import callback_or_transfer, crew_failure_plan

pytestmark = pytest.mark.unit


async def test_a_phone_caller_is_put_through_when_the_profile_names_a_colleague(
    make_call: Callable[..., Any],
) -> None:
    state, _ = await make_call(Channel.INBOUND)
    assert state.profile.transfer_number
    plan = crew_failure_plan(CREW)(state, "llm")
    assert plan.action == "transfer" and plan.transfer_to == state.profile.transfer_number
    assert plan.say.startswith(state.profile.technical_trouble)


async def test_without_a_colleague_the_caller_gets_a_call_back(
    make_call: Callable[..., Any],
) -> None:
    state, _ = await make_call(Channel.INBOUND)
    state.profile = state.profile.model_copy(update={"transfer_number": None})
    plan = callback_or_transfer(state)
    assert plan.action == "callback" and plan.transfer_to is None
    assert "call you back" in plan.say and plan.say.endswith("Goodbye.")


async def test_a_web_caller_without_a_number_is_asked_to_call_again(
    make_call: Callable[..., Any],
) -> None:
    state, _ = await make_call(Channel.WEB, caller=None)
    plan = callback_or_transfer(state)
    assert plan.action == "hang_up" and "call us again" in plan.say


async def test_a_crew_without_the_hook_gets_the_engines_plan(
    make_call: Callable[..., Any],
) -> None:
    state, _ = await make_call(Channel.WEB, caller=None)
    assert crew_failure_plan(object())(state, "tts") == callback_or_transfer(state)


async def test_a_provider_failure_does_not_hide_a_booking(make_call: Callable[..., Any]) -> None:
    state, _ = await make_call(Channel.INBOUND)
    state.set_outcome(DeskOutcome.BOOKED)
    state.set_outcome(Outcome.PROVIDER_FAILURE)  # ended_by says how it ended
    assert state.outcome == DeskOutcome.BOOKED
