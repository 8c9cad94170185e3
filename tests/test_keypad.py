"""Keypad on inbound calls: 0 for a person at any stage, more keys from the business profile;
every digit is recorded in the report and logged at debug.

Digits go in through the worker's own DTMF routing (`dispatch_dtmf`, what `sip_dtmf_received`
calls) into a real text-mode session running the crew's agents; the call control is the
simulator's, which records the transfer instead of sending a SIP REFER.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from agents.appointments import AppointmentsAgent
from agents.intro import IntroAgent
from agents.keypad import NO_PERSON_PHRASE, PERSON_PHRASE
from livekit.agents import AgentSession

from callcrew.call import Channel, Outcome
from callcrew.metrics.report import build_report
from callcrew.profile import BusinessProfile
from callcrew.simulate.replay import ReplayLLM, ReplayScript
from callcrew.worker import dispatch_dtmf

pytestmark = pytest.mark.unit


def _said(session: AgentSession[Any]) -> list[str]:
    return [
        i.text_content or ""
        for i in session.history.items
        if i.type == "message" and i.role == "assistant"
    ]


async def _settle(session: AgentSession[Any]) -> None:
    for _ in range(3):
        await asyncio.sleep(0.02)
        if session.current_speech is not None:
            await session.current_speech.wait_for_playout()


async def test_zero_puts_an_inbound_caller_through_to_a_person_from_the_greeting(
    make_call: Any, caplog: pytest.LogCaptureFixture
) -> None:
    state, control = await make_call(Channel.INBOUND)
    caplog.set_level(logging.DEBUG, logger="callcrew.worker")
    async with AgentSession(llm=ReplayLLM(ReplayScript(turns={})), userdata=state) as session:
        await session.start(IntroAgent(state))
        await _settle(session)
        assert await dispatch_dtmf(session, "0")
        await _settle(session)
        said = _said(session)
    assert control.transferred_to == state.profile.transfer_number
    assert said[-1] == PERSON_PHRASE
    assert state.outcome is Outcome.TRANSFERRED and state.ended_by == "transfer"
    (press,) = state.keypad
    assert (press.digit, press.agent, press.action) == ("0", "IntroAgent", "person")
    assert "key '0' pressed (agent IntroAgent)" in caplog.text
    report = build_report(state, info=state.info, history=None, usage=None, stack="test")
    assert report["keypad"] == [
        {"digit": "0", "at": press.at.isoformat(), "agent": "IntroAgent", "action": "person"}
    ]


async def test_zero_works_at_the_task_stage_too_and_other_keys_are_only_recorded(
    make_call: Any,
) -> None:
    state, control = await make_call(Channel.INBOUND)
    async with AgentSession(llm=ReplayLLM(ReplayScript(turns={})), userdata=state) as session:
        await session.start(AppointmentsAgent(state))
        await _settle(session)
        before = _said(session)
        assert await dispatch_dtmf(session, "5")  # the agent takes digits; 5 means nothing
        await _settle(session)
        assert _said(session) == before and control.transferred_to is None
        assert await dispatch_dtmf(session, "0")
        await _settle(session)
    assert control.transferred_to == state.profile.transfer_number
    assert [(k.digit, k.agent, k.action) for k in state.keypad] == [
        ("5", "AppointmentsAgent", None),
        ("0", "AppointmentsAgent", "person"),
    ]


async def test_with_nobody_to_transfer_to_the_caller_hears_so_and_stays(make_call: Any) -> None:
    state, control = await make_call(Channel.INBOUND)
    state.profile = state.profile.model_copy(update={"transfer_number": None})
    async with AgentSession(llm=ReplayLLM(ReplayScript(turns={})), userdata=state) as session:
        await session.start(IntroAgent(state))
        await _settle(session)
        await dispatch_dtmf(session, "0")
        await _settle(session)
        said = _said(session)
        assert isinstance(session.current_agent, IntroAgent)
    assert said[-1] == NO_PERSON_PHRASE
    assert control.transferred_to is None and state.outcome is Outcome.IN_PROGRESS


async def test_the_profile_names_more_keys(make_call: Any) -> None:
    state, _ = await make_call(Channel.INBOUND)
    state.profile = state.profile.model_copy(update={"keypad": {"0": "person", "9": "repeat"}})
    async with AgentSession(llm=ReplayLLM(ReplayScript(turns={})), userdata=state) as session:
        await session.start(IntroAgent(state))
        await _settle(session)
        greeting = _said(session)[-1]
        await dispatch_dtmf(session, "9")
        await _settle(session)
        said = _said(session)
    assert said[-2:] == [greeting, greeting]
    assert state.keypad[-1].action == "repeat"


@pytest.mark.parametrize(
    ("keypad", "message"),
    [
        ({"10": "person"}, "keys must be one of 0-9, * or #"),
        ({"0": "dance"}, "unknown keypad action(s) ['dance']"),
    ],
)
def test_a_profile_keypad_is_checked(
    profile: BusinessProfile, keypad: dict[str, str], message: str
) -> None:
    data = profile.model_dump()
    data["keypad"] = keypad
    with pytest.raises(ValueError) as caught:
        BusinessProfile.model_validate(data)
    assert message in str(caught.value)
