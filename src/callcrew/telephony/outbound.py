"""Placing an outbound call from the job, and what its SIP result means for the report.

The job starts the session first (so not a word of the callee's greeting is lost), then dials
with `wait_until_answered`; a SIP failure becomes the call's outcome (busy, no answer, ...), and
an answering machine gets the voicemail path instead of the crew.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from livekit import api
from livekit.agents import Agent, AgentSession

from callcrew.call import CallState, Crew, Outcome

logger = logging.getLogger("callcrew.outbound")

# SIP final responses a callee's side sends, grouped by what they mean for the business.
_BUSY = {486, 600}
_NO_ANSWER = {408, 480, 487}
_REJECTED = {403, 603}
_UNREACHABLE = {404, 410, 484, 485, 502, 503, 504}


def outcome_for_sip_status(code: int | None) -> tuple[Outcome, str]:
    """Outcome and a plain reason for a failed dial."""
    if code in _BUSY:
        return Outcome.BUSY, f"the line was busy (SIP {code})"
    if code in _NO_ANSWER:
        return Outcome.NO_ANSWER, f"nobody answered (SIP {code})"
    if code in _REJECTED:
        return Outcome.FAILED, f"the call was rejected (SIP {code})"
    if code in _UNREACHABLE:
        return Outcome.FAILED, f"the number could not be reached (SIP {code})"
    if code is None:
        return Outcome.FAILED, "the call could not be placed"
    return Outcome.FAILED, f"the call failed (SIP {code})"


# AMD categories (livekit.agents.voice.amd) -> how the call continues.
MACHINE_VOICEMAIL = "machine-vm"
MACHINE_UNAVAILABLE = "machine-unavailable"
MACHINE_IVR = "machine-ivr"
HUMAN = "human"
UNCERTAIN = "uncertain"


def is_machine(category: str) -> bool:
    return category.startswith("machine")


@dataclass(frozen=True)
class DialResult:
    answered: bool
    outcome: Outcome | None  # None when answered
    reason: str
    sip_status: int | None = None
    participant_identity: str | None = None


class SipDialer(Protocol):
    async def create_sip_participant(
        self, create: api.CreateSIPParticipantRequest, *, timeout: float | None = None
    ) -> api.SIPParticipantInfo: ...


async def dial(
    sip: SipDialer,
    *,
    room: str,
    trunk_id: str,
    number: str,
    identity: str,
    ringing_timeout_s: float = 30.0,
) -> DialResult:
    """Dial and wait for an answer; every failure is a result, never an exception."""
    request = api.CreateSIPParticipantRequest(
        room_name=room,
        sip_trunk_id=trunk_id,
        sip_call_to=number,
        participant_identity=identity,
        participant_name="callee",
        wait_until_answered=True,
    )
    request.ringing_timeout.FromSeconds(int(ringing_timeout_s))
    try:
        await sip.create_sip_participant(request)
    except api.SipCallError as exc:
        outcome, reason = outcome_for_sip_status(exc.sip_status_code)
        return DialResult(False, outcome, reason, exc.sip_status_code)
    except api.TwirpError as exc:
        # Not a SIP answer: the server refused the request (bad trunk id, no SIP service...).
        return DialResult(False, Outcome.FAILED, f"LiveKit refused the dial: {exc.message}")
    except Exception as exc:
        return DialResult(False, Outcome.FAILED, f"the dial failed: {type(exc).__name__}")
    return DialResult(True, None, "answered", 200, identity)


class MachineDetector(Protocol):
    """Answering-machine detection: started before the dial, asked for a verdict after it."""

    async def start(self) -> None: ...

    async def verdict(self) -> str: ...

    async def aclose(self) -> None: ...


class LiveKitAMD:
    """LiveKit's AMD on the session's own STT and LLM (no cloud inference)."""

    def __init__(self, session: AgentSession[Any], participant_identity: str) -> None:
        from livekit.agents.voice.amd import AMD

        self._amd = AMD(
            session,
            llm=None,
            stt=None,
            participant_identity=participant_identity,
            ivr_detection=False,
            suppress_compatibility_warning=True,
        )

    async def start(self) -> None:
        await self._amd.__aenter__()

    async def verdict(self) -> str:
        result = await self._amd.execute()
        return str(result.category.value)

    async def aclose(self) -> None:
        await self._amd.aclose()


class HoldAgent(Agent):
    """Holds the session silently while the phone rings; the crew takes over on answer."""

    def __init__(self) -> None:
        super().__init__(instructions="The phone is ringing. Say nothing.")


async def connect_outbound(
    *,
    session: AgentSession[Any],
    state: CallState,
    crew: Crew,
    sip: SipDialer,
    trunk_id: str | None,
    identity: str,
    detector: MachineDetector | None,
) -> DialResult:
    """Dial the callee for a session that is already running with a HoldAgent.

    Not answered: the outcome says why and the room is deleted. A voicemail box: the crew's
    voicemail message, then hang up. A person (or an uncertain verdict): the crew takes over.
    """
    info = state.info
    if not trunk_id:
        result = DialResult(False, Outcome.FAILED, "no outbound SIP trunk was given")
    else:
        if detector is not None:
            await detector.start()
        result = await dial(
            sip,
            room=info.room,
            trunk_id=trunk_id,
            number=info.caller_number or "",
            identity=identity,
        )
    if not result.answered:
        assert result.outcome is not None
        state.set_outcome(result.outcome)
        state.errors.append(result.reason)
        state.ended_by = "dial"
        if detector is not None:
            await detector.aclose()
        await state.control.hang_up(result.outcome.value)
        return result

    category = HUMAN
    if detector is not None:
        try:
            category = await detector.verdict()
        except Exception as exc:  # a broken detector must not cost us a live person
            logger.warning("call %s: AMD failed (%s); treating as a person", info.call_id, exc)
            category = UNCERTAIN
        finally:
            await detector.aclose()
    state.notes["amd"] = category
    if is_machine(category):
        state.ended_by = "machine"
        if category == MACHINE_VOICEMAIL:
            await session.say(crew.voicemail_message(state), allow_interruptions=False)
            state.set_outcome(Outcome.VOICEMAIL)
        elif category == MACHINE_UNAVAILABLE:
            state.set_outcome(Outcome.NO_ANSWER)
            state.errors.append("the mailbox was full or not set up")
        else:
            state.set_outcome(Outcome.FAILED)
            state.errors.append("an automated menu (IVR) answered")
        await state.control.hang_up(state.outcome.value)
        return result
    session.update_agent(crew.first_agent(state))
    return result
