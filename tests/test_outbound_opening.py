"""The outbound opening is heard whole, through the real audio path of a LiveKit session.

On a real line the callee's own pick-up "Hello?" cut the opening to "Hello, that,". Here the
session is LiveKit's own (turn-taking, interruption, StreamAdapter, audio forwarding), with
fakes only at the plugin boundary (tests/audio_fakes.py: an energy VAD, a scripted STT, a tone
TTS) and the rehearsal's real-time mic and speaker (simulate/audio.py). The dial goes through
livekit-api's client to the Twirp stub. The callee answers, says "Hello?", and tries to talk
over the opening.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from agents.crew import CREW
from agents.outbound import OutboundIntroAgent
from livekit import api
from livekit.agents import AgentSession

from callcrew.call import CallInfo, Channel, CrewContext
from callcrew.metrics.report import build_report
from callcrew.providers.session import turn_handling
from callcrew.settings import Settings
from callcrew.simulate.audio import CallerMic, RehearsalSpeaker, Timeline, Utterance
from callcrew.simulate.replay import ReplayLLM, ReplayScript
from callcrew.simulate.runner import SimCallControl
from callcrew.telephony.outbound import HoldAgent, connect_outbound
from tests.audio_fakes import EnergyVAD, ScriptedSTT, ToneTTS, burst, tone_seconds
from tests.conftest import FROZEN_NOW
from tests.twirp_stub import API_KEY, API_SECRET, running_stub

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

CALLEE = "+15550142233"


async def _confirm_call(store: Any, profile: Any) -> tuple[Any, SimCallControl]:
    customer = store.crew_data.customers.create("Rosa Diaz", CALLEE)
    start = FROZEN_NOW + timedelta(days=4, hours=1)
    appt = store.crew_data.appointments.book(
        customer.id, "haircut", start, start + timedelta(minutes=30)
    )
    control = SimCallControl(Channel.OUTBOUND)
    info = CallInfo(
        channel=Channel.OUTBOUND,
        room="call-out-0123456789ab",
        caller_number=CALLEE,
        metadata={
            "phone_number": CALLEE,
            "purpose": "confirm",
            "data": {"appointment_id": appt.id},
        },
    )
    ctx = CrewContext(
        settings=Settings(), profile=profile, store=store, control=control, now=lambda: FROZEN_NOW
    )
    return await CREW.new_call(info, ctx), control


@contextlib.asynccontextmanager
async def _line(state: Any, stt_lines: list[str]) -> AsyncIterator[tuple[Any, ...]]:
    """A session on a real-time phone line: mic in, speaker out, fakes at the plugin edge."""
    timeline = Timeline()
    mic, speaker = CallerMic(timeline), RehearsalSpeaker(timeline)
    session: AgentSession[Any] = AgentSession(
        stt=ScriptedSTT(stt_lines),
        vad=EnergyVAD(),
        tts=ToneTTS(),
        llm=ReplayLLM(ReplayScript(turns={})),
        userdata=state,
        turn_handling=turn_handling(Settings()),
        # What LiveKit itself does for an outbound SIP callee: no echo-cancellation warm-up,
        # so the callee can interrupt from the first word (agent_session.py).
        aec_warmup_duration=None,
    )
    session.input.audio = mic
    session.output.audio = speaker
    async with running_stub() as stub:
        stub.outbound["ST_out"] = api.SIPOutboundTrunkInfo(
            sip_trunk_id="ST_out", name="out", address="sip.example.test", numbers=["+15550100100"]
        )
        lk = api.LiveKitAPI(url=stub.url, api_key=API_KEY, api_secret=API_SECRET)
        timeline.start()
        speaker.start()
        try:
            await session.start(HoldAgent())
            yield session, mic, speaker, lk.sip
        finally:
            await session.aclose()
            await speaker.aclose()
            await lk.aclose()


async def _until(condition: Any, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out waiting on the call"
        await asyncio.sleep(0.02)


def _agent_lines(session: AgentSession[Any]) -> list[Any]:
    return [i for i in session.history.items if i.type == "message" and i.role == "assistant"]


async def test_the_callee_speaks_first_and_then_hears_the_whole_opening(
    store: Any, profile: Any
) -> None:
    state, _ = await _confirm_call(store, profile)
    async with _line(state, ["Hello?", "Hello, who is this?"]) as (session, mic, speaker, sip):
        dialling = asyncio.create_task(
            connect_outbound(
                session=session,
                state=state,
                crew=CREW,
                sip=sip,
                trunk_id="ST_out",
                identity="callee-1",
                detector=None,
            )
        )
        hello = mic.say(Utterance(0, "Hello?", burst(0.5)))  # the pick-up, as people do
        result = await dialling
        assert result.answered
        assert isinstance(session.current_agent, OutboundIntroAgent)
        await _until(lambda: bool(speaker.segments))
        await asyncio.sleep(0.3)
        # ...and talks over the opening ("Hello? Who is this?"), which would cut it short.
        mic.say(Utterance(1, "Hello, who is this?", burst(1.0, seed=2)))
        await _until(lambda: speaker.segments[0].ended_at is not None)
        await _until(lambda: bool(_agent_lines(session)))
        opening = _agent_lines(session)[0]
        report = build_report(
            state, info=state.info, history=session.history, usage=None, stack="test"
        )

    assert state.notes["pickup"] == "spoke" and state.notes["dial"]["outcome"] == "answered"
    assert hello.ended_at is not None and speaker.segments[0].started_at > hello.ended_at
    text = opening.text_content or ""
    assert text.startswith("Hello Rosa Diaz") and "Press 1" in text
    assert not opening.interrupted
    segment = speaker.segments[0]
    assert not segment.interrupted
    assert segment.played_s == pytest.approx(tone_seconds(text), abs=0.1)
    said = [(t["role"], t["text"]) for t in report["transcript"] if t["role"] != "handoff"]
    assert said[:2] == [("caller", "Hello?"), ("agent", text)]


async def test_nobody_speaking_at_pick_up_starts_the_opening_after_a_short_silence(
    store: Any, profile: Any
) -> None:
    state, _ = await _confirm_call(store, profile)
    async with _line(state, []) as (session, _mic, speaker, sip):
        await connect_outbound(
            session=session,
            state=state,
            crew=CREW,
            sip=sip,
            trunk_id="ST_out",
            identity="callee-1",
            detector=None,
            pickup_quiet_s=0.5,
        )
        await _until(lambda: bool(speaker.segments) and speaker.segments[0].ended_at is not None)
        await _until(lambda: bool(_agent_lines(session)))
        opening = _agent_lines(session)[0]
    assert state.notes["pickup"] == "silent"
    assert not opening.interrupted and not speaker.segments[0].interrupted


async def test_an_interrupted_agent_line_is_in_the_report_marked_with_what_was_heard(
    store: Any, profile: Any
) -> None:
    """The same line with an ordinary, interruptible sentence: the callee does cut it, and the
    report keeps it, marked, with how long it played (so the rig above can tell)."""
    state, _ = await _confirm_call(store, profile)
    line = "Thanks for holding. " * 8
    async with _line(state, ["Hello, who is this?"]) as (session, mic, speaker, _sip):
        session.say(line)
        await _until(lambda: bool(speaker.segments))
        await asyncio.sleep(0.3)
        mic.say(Utterance(0, "Hello, who is this?", burst(0.8)))
        await _until(lambda: speaker.segments[0].ended_at is not None)
        await _until(lambda: bool(_agent_lines(session)))
        report = build_report(
            state, info=state.info, history=session.history, usage=None, stack="test"
        )
    segment = speaker.segments[0]
    # Stopped before its natural end; how soon is a figure for bench/, not a test bound.
    assert segment.interrupted and segment.played_s < tone_seconds(line)
    (entry,) = [t for t in report["transcript"] if t["role"] == "agent"]
    assert entry["interrupted"] is True
    assert 0 < entry["heard_s"] < tone_seconds(line)
    assert np.isclose(entry["heard_s"], segment.played_s, atol=0.3)
