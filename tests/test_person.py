"""agents/person.py: a person at once, from the intro, without a name first."""

from __future__ import annotations

from typing import Any

import pytest
from agents.intro import IntroAgent
from agents.person import (
    NOBODY_ON_THIS_LINE,
    TRANSFER_PHRASE,
    can_put_through,
    connect_to_person,
)
from livekit.agents import AgentSession, llm

from callcrew.call import Channel, Outcome
from tests.test_agents import start, steps

pytestmark = pytest.mark.unit


async def test_the_intro_transfers_an_unknown_phone_caller_in_one_turn(
    make_call: Any, store: Any
) -> None:
    state, control, script, session = await start(
        make_call, {0: steps({"tool": "request_human", "args": {"reason": "wants a person"}})}
    )
    assert state.customer_id is None
    async with session:
        await session.start(IntroAgent(state))
        script.begin_turn(0)
        result = await session.run(user_input="Just put me through to a person")
        result.expect.next_event().is_function_call(name="request_human")
        hold = result.expect.next_event().is_message(role="assistant").event().item
        assert hold.text_content == TRANSFER_PHRASE
        result.expect.next_event().is_function_call_output()
    assert control.transferred_to == state.profile.transfer_number
    assert state.outcome is Outcome.TRANSFERRED and state.ended_by == "transfer"
    assert [a.kind for a in state.actions] == ["transferred"]
    assert store.crew_data.customers.all() == []  # nobody was asked for a name
    assert script.problems == []


async def test_the_intro_takes_a_message_on_the_web(make_call: Any) -> None:
    state, control, script, session = await start(
        make_call,
        {
            0: steps(
                {"tool": "request_human", "args": {"reason": "wants a person"}},
                {"say": "I can't put you through, but I can take a message."},
            ),
            1: steps(
                {"tool": "take_message", "args": {"message": "Call Mia back on 555 0199."}},
                {"say": "Passed on."},
            ),
        },
        channel=Channel.WEB,
        caller=None,
    )
    async with session:
        await session.start(IntroAgent(state))
        script.begin_turn(0)
        result = await session.run(user_input="Can I talk to a person?")
        result.expect.next_event().is_function_call(name="request_human")
        out = result.expect.next_event().is_function_call_output().event().item
        assert out.output == NOBODY_ON_THIS_LINE and not out.is_error
        result.expect.next_event().is_message(role="assistant")
        script.begin_turn(1)
        await session.run(user_input="Tell them to call Mia back on 555 0199.")
    assert control.transferred_to is None
    assert state.message_for_staff == "Call Mia back on 555 0199."
    assert state.outcome is Outcome.MESSAGE_TAKEN
    assert script.problems == []


async def test_connect_to_person_works_without_a_tool_context(make_call: Any) -> None:
    # The keypad hook (key 0) calls it directly with the agent's session and context.
    state, control = await make_call()
    assert can_put_through(state)
    session: AgentSession[Any] = AgentSession(userdata=state)
    async with session:
        await session.start(IntroAgent(state))
        if session.current_speech is not None:
            await session.current_speech.wait_for_playout()
        assert await connect_to_person(session, state, "pressed 0", llm.ChatContext()) is None
    assert control.transferred_to == state.profile.transfer_number
    web, _ = await make_call(channel=Channel.WEB, caller=None)
    assert not can_put_through(web)
    assert await connect_to_person(session, web, "pressed 0", llm.ChatContext()) == (
        NOBODY_ON_THIS_LINE
    )
