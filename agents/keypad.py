"""Keypad digits any stage of a call understands: 0 for a person; the business profile's
`keypad` can name more (`repeat`). Digits arrive as RFC 2833 DTMF (`sip_dtmf_received`, routed
by the worker to the current agent's `on_dtmf`; SIP INFO DTMF is not passed on by livekit-sip).
The worker records every digit in the report's `keypad`; this module adds what it did.

`person` is a cold transfer to the profile's `transfer_number` (a warm one needs the model to
brief the colleague, which a key press does not wait for); with nobody to transfer to, the
caller hears that and stays with the agent, who can take a message.
"""

from __future__ import annotations

import contextlib
from typing import Protocol

from livekit.agents import AgentSession

from agents.calldata import CallData
from callcrew.call import Channel, Outcome
from callcrew.providers.phrases import say_phrase

PERSON_PHRASE = "Of course. I'm putting you through to a colleague now, please hold."
NO_PERSON_PHRASE = (
    "Sorry, nobody can come to the phone right now. Tell me what you need and I can pass on "
    "a message."
)


class KeypadAgent(Protocol):
    @property
    def state(self) -> CallData: ...

    @property
    def session(self) -> AgentSession[CallData]: ...


def mark(state: CallData, digit: str, action: str) -> None:
    """Note what the crew did with the digit the worker just recorded."""
    if state.keypad and state.keypad[-1].digit == digit and state.keypad[-1].action is None:
        state.keypad[-1].action = action


async def handle_key(agent: KeypadAgent, digit: str) -> bool:
    """Act on a digit the profile's keypad names; False if it names none."""
    state = agent.state
    action = state.profile.keypad.get(digit)
    if action is None:
        return False
    mark(state, digit, action)
    if action == "person":
        await _person(agent)
    elif action == "repeat":
        await _repeat(agent)
    return True


async def _say(agent: KeypadAgent, text: str, *, allow_interruptions: bool = True) -> None:
    state = agent.state
    handle = await say_phrase(
        agent.session,
        text,
        cache=state.phrases,
        stats=state.phrase_stats,
        allow_interruptions=allow_interruptions,
    )
    await handle


async def _person(agent: KeypadAgent) -> None:
    state, session = agent.state, agent.session
    number = state.profile.transfer_number
    _stop_talking(session)  # the caller asked with the keypad: they are not listening
    if not (number and state.info.channel is not Channel.WEB and state.control.can_transfer):
        await _say(agent, NO_PERSON_PHRASE)
        return
    await _say(agent, PERSON_PHRASE, allow_interruptions=False)
    state.record_change("transferred to a colleague (the caller pressed a key for a person)")
    state.set_outcome(Outcome.TRANSFERRED)
    state.ended_by = "transfer"
    await state.control.transfer(number)


async def _repeat(agent: KeypadAgent) -> None:
    said = [
        item.text_content
        for item in agent.session.history.items
        if item.type == "message" and item.role == "assistant" and item.text_content
    ]
    if said:
        _stop_talking(agent.session)
        await _say(agent, said[-1])


def _stop_talking(session: AgentSession[CallData]) -> None:
    with contextlib.suppress(RuntimeError):  # a phrase that must be heard whole plays on
        session.interrupt()
