"""Outbound calls in the job: SIP results become outcomes, machines get voicemail, people get
the crew; keypad answers; silence and the time limit end calls politely."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from agents.appointments import AppointmentsAgent
from agents.crew import CREW
from agents.outbound import OutboundIntroAgent
from agents.outcomes import DeskOutcome
from agents.wrapup import WrapUpAgent
from livekit import api
from livekit.agents import Agent, AgentSession
from livekit.agents.voice.events import UserStateChangedEvent

from callcrew.call import CallInfo, Channel, CrewContext, Outcome
from callcrew.guards import CallTimer, SilenceGuard
from callcrew.settings import Settings
from callcrew.simulate.replay import ReplayLLM, ReplayScript
from callcrew.simulate.runner import SimCallControl
from callcrew.simulate.scenario import AgentStep
from callcrew.telephony.outbound import (
    HoldAgent,
    connect_outbound,
    dial,
    outcome_for_sip_status,
)
from callcrew.worker import dispatch_dtmf
from tests.conftest import FROZEN_NOW
from tests.twirp_stub import (
    API_KEY,
    API_SECRET,
    BUSY,
    DECLINED,
    NO_ANSWER,
    NO_ANSWER_408,
    NO_ANSWER_480,
    UNREACHABLE,
    UNREACHABLE_LONG_RING,
    DialOutcome,
    TwirpStub,
    running_stub,
)

pytestmark = pytest.mark.unit

CALLEE = "+15550142233"


async def _until(check: Any, timeout: float = 10.0) -> bool:
    """A bounded wait for what the session does next (no fixed sleep: a busy machine is slow)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check() and loop.time() < end:
        await asyncio.sleep(0.02)
    return bool(check())


def _said(session: Any) -> list[str]:
    return [
        i.text_content or ""
        for i in session.history.items
        if i.type == "message" and i.role == "assistant"
    ]


@pytest.mark.parametrize(
    ("code", "outcome", "words"),
    [
        (486, Outcome.BUSY, "busy"),
        (480, Outcome.NO_ANSWER, "nobody answered"),
        (408, Outcome.NO_ANSWER, "nobody answered"),
        (603, Outcome.FAILED, "rejected"),
        (404, Outcome.FAILED, "could not be reached"),
        (None, Outcome.FAILED, "could not be placed"),
        (599, Outcome.FAILED, "SIP 599"),
    ],
)
def test_sip_status_maps_to_an_outcome(code: int | None, outcome: Outcome, words: str) -> None:
    got, reason = outcome_for_sip_status(code)
    assert got is outcome and words in reason


@contextlib.asynccontextmanager
async def livekit_sip(callee: DialOutcome | None = None) -> AsyncIterator[tuple[Any, TwirpStub]]:
    """livekit-api's own SIP client against the Twirp stub, with one outbound trunk ST_out."""
    async with running_stub() as stub:
        stub.outbound["ST_out"] = api.SIPOutboundTrunkInfo(
            sip_trunk_id="ST_out", name="out", address="sip.example.test", numbers=["+15550100100"]
        )
        if callee is not None:
            stub.dial_outcomes[CALLEE] = callee
        lk = api.LiveKitAPI(url=stub.url, api_key=API_KEY, api_secret=API_SECRET)
        try:
            yield lk.sip, stub
        finally:
            await lk.aclose()


async def ring(
    session: AgentSession[Any],
    state: Any,
    sip: Any,
    *,
    detector: Detector | None,
    trunk_id: str | None = "ST_out",
) -> Any:
    """Dial the callee for a session holding on HoldAgent, as the worker does."""
    return await connect_outbound(
        session=session,
        state=state,
        crew=CREW,
        sip=sip,
        trunk_id=trunk_id,
        identity="callee-1",
        detector=detector,
        pickup_quiet_s=0.05,  # no audio here: nobody will say "Hello?"
    )


class Detector:
    def __init__(self, verdict: str) -> None:
        self._verdict = verdict
        self.started = self.closed = False

    async def start(self) -> None:
        self.started = True

    async def verdict(self) -> str:
        assert self.started, "AMD must listen before the dial"
        return self._verdict

    async def aclose(self) -> None:
        self.closed = True


async def outbound_call(store: Any, profile: Any, purpose: str = "confirm") -> Any:
    customer = store.crew_data.customers.create("Rosa Diaz", CALLEE)
    start = FROZEN_NOW + timedelta(days=4, hours=1)  # Tuesday 10:00 at the salon
    appt = store.crew_data.appointments.book(
        customer.id, "haircut", start, start + timedelta(minutes=30)
    )
    control = SimCallControl(Channel.OUTBOUND)
    info = CallInfo(
        channel=Channel.OUTBOUND,
        room="call-out-1",
        caller_number=CALLEE,
        metadata={"phone_number": CALLEE, "purpose": purpose, "data": {"appointment_id": appt.id}},
    )
    ctx = CrewContext(
        settings=Settings(), profile=profile, store=store, control=control, now=lambda: FROZEN_NOW
    )
    state = await CREW.new_call(info, ctx)
    return state, control


@pytest.mark.parametrize(
    ("outcome", "expected", "reason"),
    [
        (BUSY, Outcome.BUSY, "busy (SIP 486)"),
        (DECLINED, Outcome.FAILED, "rejected (SIP 603)"),
        # The old promise (a SipCallError with 480/408): some carriers do answer that way.
        (NO_ANSWER_480, Outcome.NO_ANSWER, "nobody answered (SIP 480)"),
        (NO_ANSWER_408, Outcome.NO_ANSWER, "nobody answered (SIP 408)"),
    ],
)
async def test_a_failed_dial_becomes_the_outcome_and_no_crew_speaks(
    store: Any, profile: Any, outcome: DialOutcome, expected: Outcome, reason: str
) -> None:
    state, control = await outbound_call(store, profile)
    detector = Detector("human")
    async with (
        livekit_sip(callee=outcome) as (sip, stub),
        AgentSession(llm=ReplayLLM(ReplayScript(turns={})), userdata=state) as session,
    ):
        await session.start(HoldAgent())
        result = await ring(session, state, sip, detector=detector)
        assert isinstance(session.current_agent, HoldAgent)
    assert not result.answered and result.sip_status == outcome.sip_status_code
    assert state.outcome is expected and control.hung_up == expected.value
    assert reason in state.errors[0]
    assert state.ended_by == "dial"
    assert detector.closed
    (req,) = stub.sip_participants
    assert (req.sip_call_to, req.sip_trunk_id, req.wait_until_answered) == (CALLEE, "ST_out", True)
    assert req.room_name == "call-out-1"


class Clock:
    """A monotonic clock that moves only when told: the ring time without waiting for it."""

    def __init__(self, *readings: float) -> None:
        self._readings = list(readings)

    def __call__(self) -> float:
        return self._readings.pop(0) if len(self._readings) > 1 else self._readings[0]


async def test_the_stub_answers_no_answer_as_the_real_sip_service_does() -> None:
    """livekit-sip v1.11.0 on the wire: Twirp `canceled` / "sip request timed out", HTTP 408,
    no SIP status in `meta`, so livekit-api raises a plain ServerError, not a SipCallError."""
    async with livekit_sip(callee=NO_ANSWER) as (sip, _stub):
        request = api.CreateSIPParticipantRequest(
            room_name="r", sip_trunk_id="ST_out", sip_call_to=CALLEE, wait_until_answered=True
        )
        with pytest.raises(api.ServerError) as caught:
            await sip.create_sip_participant(request)
    err = caught.value
    assert not isinstance(err, api.SipCallError)
    assert (err.code, err.message, err.status, err.metadata) == (
        "canceled",
        "sip request timed out",
        408,
        {},
    )


@pytest.mark.parametrize(
    ("callee", "ring", "expected", "words"),
    [
        # Rang the whole 30 s and the SIP service sent CANCEL: no answer.
        (NO_ANSWER, 30.4, Outcome.NO_ANSWER, "nobody answered within 30 s"),
        # Nothing at the trunk address looks exactly the same within a 30 s ring; the report
        # says so rather than guess.
        (UNREACHABLE, 30.4, Outcome.NO_ANSWER, "where nothing listens looks the same"),
        # With a ring time past SIP timer B the transaction gives up first, with no response.
        (UNREACHABLE_LONG_RING, 32.0, Outcome.FAILED, "did not answer at all"),
        # The same error well before the ring time ran out is not a phone ringing out.
        (NO_ANSWER, 3.0, Outcome.FAILED, "timed out after 3 s (before the ring time)"),
    ],
)
async def test_no_final_sip_response_is_told_apart_by_message_and_ring_time(
    callee: DialOutcome, ring: float, expected: Outcome, words: str
) -> None:
    async with livekit_sip(callee=callee) as (sip, stub):
        result = await dial(
            sip,
            room="call-out-1",
            trunk_id="ST_out",
            number=CALLEE,
            identity="callee-1",
            clock=Clock(100.0, 100.0 + ring),
        )
    assert not result.answered and result.outcome is expected, result
    assert words in result.reason
    assert "LiveKit refused" not in result.reason
    assert result.sip_status is None and result.ring_s == pytest.approx(ring)
    assert stub.sip_participants[0].ringing_timeout.seconds == 30


async def test_no_answer_ends_the_call_as_no_answer_with_the_reason_in_the_report(
    store: Any, profile: Any
) -> None:
    state, control = await outbound_call(store, profile)
    async with (
        livekit_sip(callee=NO_ANSWER) as (sip, _),
        AgentSession(llm=ReplayLLM(ReplayScript(turns={})), userdata=state) as session,
    ):
        await session.start(HoldAgent())
        # A 1 s ring time: the stub's "sip request timed out" is then a ring that ran out.
        await connect_outbound(
            session=session,
            state=state,
            crew=CREW,
            sip=sip,
            trunk_id="ST_out",
            identity="callee-1",
            detector=None,
            ringing_timeout_s=1.0,
        )
        assert isinstance(session.current_agent, HoldAgent)  # the crew never spoke
    assert state.outcome is Outcome.NO_ANSWER and control.hung_up == "no_answer"
    assert state.ended_by == "dial" and state.notes["dial"]["outcome"] == "no_answer"
    assert "nobody answered within 1 s" in state.errors[0]


async def test_an_unknown_trunk_is_a_failed_call_with_livekits_reason(
    store: Any, profile: Any
) -> None:
    state, control = await outbound_call(store, profile)
    async with (
        livekit_sip() as (sip, _),
        AgentSession(llm=ReplayLLM(ReplayScript(turns={})), userdata=state) as session,
    ):
        await session.start(HoldAgent())
        await ring(session, state, sip, detector=None, trunk_id="ST_missing")
    assert state.outcome is Outcome.FAILED and control.hung_up == "failed"
    assert "LiveKit refused the dial: sip trunk ST_missing not found (not_found)" in state.errors[0]


async def test_no_trunk_is_a_failed_call_not_a_crash(store: Any, profile: Any) -> None:
    state, control = await outbound_call(store, profile)
    async with (
        livekit_sip() as (sip, _),
        AgentSession(llm=ReplayLLM(ReplayScript(turns={})), userdata=state) as session,
    ):
        await session.start(HoldAgent())
        await ring(session, state, sip, detector=None, trunk_id=None)
    assert state.outcome is Outcome.FAILED
    assert "no outbound SIP trunk" in state.errors[0]
    assert control.hung_up == "failed"


async def test_voicemail_gets_the_message_and_a_hang_up(store: Any, profile: Any) -> None:
    state, control = await outbound_call(store, profile, purpose="reminder")
    async with (
        livekit_sip() as (sip, _),
        AgentSession(llm=ReplayLLM(ReplayScript(turns={})), userdata=state) as session,
    ):
        await session.start(HoldAgent())
        await ring(session, state, sip, detector=Detector("machine-vm"))
        said = [
            i.text_content or ""
            for i in session.history.items
            if i.type == "message" and i.role == "assistant"
        ]
    assert state.outcome is Outcome.VOICEMAIL and control.hung_up == "voicemail"
    assert state.ended_by == "machine"
    (message,) = said
    assert "Maple Street Salon" in message
    assert "haircut appointment on Tuesday June 16 at 10 am" in message
    assert "+ 1 5 5 5 0 1 0 0 1 0 0" in message  # the call-back number, digit by digit
    assert state.notes["amd"] == "machine-vm"


async def test_full_mailbox_is_no_answer(store: Any, profile: Any) -> None:
    state, control = await outbound_call(store, profile)
    async with (
        livekit_sip() as (sip, _),
        AgentSession(llm=ReplayLLM(ReplayScript(turns={})), userdata=state) as session,
    ):
        await session.start(HoldAgent())
        await ring(session, state, sip, detector=Detector("machine-unavailable"))
    assert state.outcome is Outcome.NO_ANSWER and control.hung_up == "no_answer"


async def test_a_person_gets_the_crew_and_can_confirm_with_key_1(store: Any, profile: Any) -> None:
    state, control = await outbound_call(store, profile)
    # The only model call: the wrap-up's recap after the keypad confirmation.
    replay = ReplayLLM(
        ReplayScript(
            turns={
                -1: [
                    AgentStep(say="Great, you're confirmed. Anything else?"),
                ]
            }
        )
    )
    async with (
        livekit_sip() as (sip, _),
        AgentSession(llm=replay, userdata=state) as session,
    ):
        await session.start(HoldAgent())
        await ring(session, state, sip, detector=Detector("human"))
        assert await _until(lambda: isinstance(session.current_agent, OutboundIntroAgent))
        # The opening is being spoken (or already was) before the keypad is pressed.
        assert await _until(lambda: session.current_speech is not None or bool(_said(session)))
        if session.current_speech is not None:
            await session.current_speech.wait_for_playout()
        opening = next(
            i.text_content or ""
            for i in session.history.items
            if i.type == "message" and i.role == "assistant"
        )
        assert opening.startswith("Hello Rosa Diaz, this is the booking assistant")
        assert "confirm your haircut appointment on Tuesday June 16 at 10 am" in opening
        assert "Press 1" in opening
        assert await dispatch_dtmf(session, "1")
        assert await _until(lambda: isinstance(session.current_agent, WrapUpAgent))
    assert state.outcome == DeskOutcome.CONFIRMED
    assert state.changes == ["confirmed the haircut appointment on Tuesday June 16 at 10 am"]
    assert control.hung_up is None
    assert replay.script.problems == []


async def test_key_2_goes_to_the_desk_to_reschedule(store: Any, profile: Any) -> None:
    state, _ = await outbound_call(store, profile)
    replay = ReplayLLM(
        ReplayScript(
            turns={
                -1: [
                    AgentStep(tool="list_my_appointments"),
                    AgentStep(say="Sure. When would suit you better?"),
                ]
            }
        )
    )
    async with AgentSession(llm=replay, userdata=state) as session:
        await session.start(OutboundIntroAgent(state))
        assert await dispatch_dtmf(session, "2")
        assert await _until(lambda: isinstance(session.current_agent, AppointmentsAgent))
        assert "reschedule the haircut appointment" in session.current_agent.instructions
    assert replay.script.problems == []


async def test_other_keys_repeat_the_choice_and_agents_without_keys_ignore_them(
    store: Any, profile: Any
) -> None:
    state, _ = await outbound_call(store, profile)
    async with AgentSession(llm=ReplayLLM(ReplayScript(turns={})), userdata=state) as session:
        await session.start(OutboundIntroAgent(state))
        assert await dispatch_dtmf(session, "7")
        assert await _until(lambda: len(_said(session)) >= 2)
        said = [
            i.text_content or ""
            for i in session.history.items
            if i.type == "message" and i.role == "assistant"
        ]
        assert said[-1] == "Sorry, please press 1 to confirm, or 2 to reschedule."
        assert isinstance(session.current_agent, OutboundIntroAgent)
        session.update_agent(HoldAgent())
        assert await _until(lambda: isinstance(session.current_agent, HoldAgent))
        assert await dispatch_dtmf(session, "1") is False
    assert state.outcome is Outcome.IN_PROGRESS


async def test_someone_elses_appointment_is_never_read_out(store: Any, profile: Any) -> None:
    other = store.crew_data.customers.create("Somebody Else", "+15550009999")
    start = FROZEN_NOW + timedelta(days=4)
    theirs = store.crew_data.appointments.book(
        other.id, "haircut", start, start + timedelta(minutes=30)
    )
    store.crew_data.customers.create("Rosa Diaz", CALLEE)
    info = CallInfo(
        channel=Channel.OUTBOUND,
        room="r",
        caller_number=CALLEE,
        metadata={
            "phone_number": CALLEE,
            "purpose": "reminder",
            "data": {"appointment_id": theirs.id},
        },
    )
    ctx = CrewContext(
        settings=Settings(),
        profile=profile,
        store=store,
        control=SimCallControl(Channel.OUTBOUND),
        now=lambda: FROZEN_NOW,
    )
    state = await CREW.new_call(info, ctx)
    assert state.appointment_id is None and state.appointment_text is None  # type: ignore[attr-defined]


async def test_silence_is_nudged_then_the_call_ends(make_call: Any) -> None:
    state, control = await make_call()
    async with AgentSession(llm=ReplayLLM(ReplayScript(turns={})), userdata=state) as session:
        await session.start(Agent(instructions="on a call"))
        guard = SilenceGuard(session, state, max_nudges=2, nudge_interval_s=0.01)
        session.emit(
            "user_state_changed", UserStateChangedEvent(old_state="listening", new_state="away")
        )
        for _ in range(100):
            if control.hung_up:
                break
            await asyncio.sleep(0.02)
        said = [
            i.text_content or ""
            for i in session.history.items
            if i.type == "message" and i.role == "assistant"
        ]
        await guard.aclose()
    assert said == [state.profile.still_there] * 2 + [state.profile.silence_goodbye]
    assert state.outcome is Outcome.SILENT and control.hung_up == "silent"
    assert state.ended_by == "silence"
    assert guard.nudges == 2


async def test_a_caller_who_speaks_again_resets_the_nudges(make_call: Any) -> None:
    state, control = await make_call()
    async with AgentSession(llm=ReplayLLM(ReplayScript(turns={})), userdata=state) as session:
        await session.start(Agent(instructions="on a call"))
        guard = SilenceGuard(session, state, max_nudges=2, nudge_interval_s=0.2)
        session.emit(
            "user_state_changed", UserStateChangedEvent(old_state="listening", new_state="away")
        )
        await asyncio.sleep(0.05)
        session.emit(
            "user_state_changed", UserStateChangedEvent(old_state="away", new_state="speaking")
        )
        await asyncio.sleep(0.3)
        await guard.aclose()
    assert guard.nudges == 0 and control.hung_up is None


async def test_time_limit_ends_the_call_but_keeps_a_booking_outcome(make_call: Any) -> None:
    state, control = await make_call()
    state.set_outcome(DeskOutcome.BOOKED)
    async with AgentSession(llm=ReplayLLM(ReplayScript(turns={})), userdata=state) as session:
        await session.start(HoldAgent())
        timer = CallTimer(session, state, max_seconds=0.01)
        for _ in range(100):
            if control.hung_up:
                break
            await asyncio.sleep(0.02)
        await timer.aclose()
    assert timer.fired and control.hung_up == "time_limit"
    assert state.outcome == DeskOutcome.BOOKED and state.ended_by == "time_limit"


async def test_a_phone_still_ringing_is_never_nudged(make_call: Any) -> None:
    state, control = await make_call()
    async with AgentSession(llm=ReplayLLM(ReplayScript(turns={})), userdata=state) as session:
        await session.start(HoldAgent())
        guard = SilenceGuard(session, state, max_nudges=1, nudge_interval_s=0.01)
        session.emit(
            "user_state_changed", UserStateChangedEvent(old_state="listening", new_state="away")
        )
        await asyncio.sleep(0.1)
        await guard.aclose()
    assert guard.nudges == 0 and control.hung_up is None
