"""Placing an outbound call from the job, and what its SIP result means for the report.

The job starts the session first (so not a word of the callee's greeting is lost), then dials
with `wait_until_answered`; a SIP failure becomes the call's outcome (busy, no answer, ...) —
including the ring-out livekit-sip reports as a Twirp `canceled` error rather than a SIP status —
an answering machine gets the voicemail path, and a person says their "Hello?" before the crew's
opening, which they then hear whole. The table of results is in docs/telephony.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from livekit import api
from livekit.agents import Agent, AgentSession, ModelSettings, llm
from livekit.agents.voice.events import ConversationItemAddedEvent, UserStateChangedEvent

from callcrew.call import CallInfo, CallState, Crew, Outcome

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


# What livekit-sip v1.11.0 returns when no final SIP response came (pkg/sip/outbound.go
# sipResponse), seen on the wire against sipp: a Twirp error, code `canceled`, no SIP status.
TIMED_OUT = "sip request timed out"  # the ring timeout expired; livekit-sip sent CANCEL
NO_RESPONSE = "transaction failed to complete"  # SIP timer B: "(N intermediate responses)"
DEFAULT_RINGING_TIMEOUT_S = 30.0


def outcome_for_no_final_response(
    message: str, *, elapsed_s: float, ringing_timeout_s: float
) -> tuple[Outcome, str] | None:
    """Outcome for a dial that ended with no SIP final response, or None if it is not one.

    Told apart by what little the service says: "sip request timed out" means the ring time ran
    out — nobody answered, *or* nothing listens at the trunk address (SIP's 32 s timer B
    outlasts a 30 s ring, so both look the same); "transaction failed to complete (0
    intermediate responses)" means not even a 100 Trying came back (no SIP server at the
    address), with some provisional responses the callee's side rang but never answered.
    """
    waited = f"{elapsed_s:.0f} s"
    if TIMED_OUT in message:
        if elapsed_s + 2.0 < ringing_timeout_s:
            # Gave up well before the ring time: not a phone ringing out.
            return Outcome.FAILED, f"the dial timed out after {waited} (before the ring time)"
        return Outcome.NO_ANSWER, (
            f"nobody answered within {ringing_timeout_s:.0f} s (the SIP service cancelled the "
            "call; a trunk address where nothing listens looks the same)"
        )
    if NO_RESPONSE in message:
        if "(0 intermediate responses)" in message:
            return Outcome.FAILED, (
                f"the trunk address did not answer at all after {waited} (no SIP response: "
                "nothing listening there?)"
            )
        return Outcome.NO_ANSWER, f"it rang but nobody answered ({waited}, no final response)"
    return None


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
    ring_s: float | None = None  # seconds from the dial request to its answer or failure


def callee_identity(info: CallInfo) -> str:
    """The SIP participant's identity for a call we place: opaque, like the room name, since
    identities appear in every LiveKit log line (the number is in the metadata only)."""
    return f"callee-{info.call_id.removeprefix('call_')}"


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
    ringing_timeout_s: float = DEFAULT_RINGING_TIMEOUT_S,
    clock: Callable[[], float] = time.monotonic,
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
    started = clock()
    try:
        await sip.create_sip_participant(request)
    except api.SipCallError as exc:
        outcome, reason = outcome_for_sip_status(exc.sip_status_code)
        return DialResult(False, outcome, reason, exc.sip_status_code, ring_s=clock() - started)
    except api.TwirpError as exc:
        elapsed = clock() - started
        if exc.code == api.TwirpErrorCode.CANCELED:
            mapped = outcome_for_no_final_response(
                exc.message, elapsed_s=elapsed, ringing_timeout_s=ringing_timeout_s
            )
            if mapped is not None:
                return DialResult(False, mapped[0], mapped[1], ring_s=elapsed)
        # Not a SIP answer: the server refused the request (bad trunk id, no SIP service...).
        return DialResult(
            False,
            Outcome.FAILED,
            f"LiveKit refused the dial: {exc.message} ({exc.code})",
            ring_s=elapsed,
        )
    except Exception as exc:
        return DialResult(False, Outcome.FAILED, f"the dial failed: {type(exc).__name__}")
    return DialResult(True, None, "answered", 200, identity, ring_s=clock() - started)


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
    """Holds the session silently while the phone rings; the crew takes over on answer.

    It never replies: the callee's "Hello?" at pick-up stays in the history (the report shows
    it) but costs no model call and starts no speech that the opening would queue behind.
    """

    def __init__(self) -> None:
        super().__init__(instructions="The phone is ringing. Say nothing.", id="hold")

    async def llm_node(
        self, chat_ctx: llm.ChatContext, tools: list[llm.Tool], model_settings: ModelSettings
    ) -> AsyncIterator[llm.ChatChunk]:
        return
        yield  # an async generator that yields nothing: no reply


# Real outbound agents let the callee speak first: people pick up saying "Hello?", and an
# opening started at the answer is cut off by it (seen on a real line: only "Hello, that," was
# heard). Wait for that first word to end, or for a short silence, then speak.
PICKUP_QUIET_S = 2.0  # nobody said anything this long after the answer: start anyway
PICKUP_MAX_S = 6.0  # a callee still talking after this long: start anyway


class PickupListener:
    """Watches the callee from the moment the call is answered: voice activity, and their
    first words reaching the history (so the report keeps them: a turn that commits while the
    crew's first agent is taking over is dropped by LiveKit)."""

    def __init__(self, session: AgentSession[Any]) -> None:
        self._session = session
        self._spoke = asyncio.Event()
        self._done = asyncio.Event()
        self._heard = asyncio.Event()
        if session.user_state == "speaking":
            self._spoke.set()
        session.on("user_state_changed", self._on_user_state)
        session.on("conversation_item_added", self._on_item)

    def _on_user_state(self, ev: UserStateChangedEvent) -> None:
        if ev.new_state == "speaking":
            self._spoke.set()
            self._done.clear()
        elif self._spoke.is_set() and ev.old_state == "speaking":
            self._done.set()

    def _on_item(self, ev: ConversationItemAddedEvent) -> None:
        if isinstance(ev.item, llm.ChatMessage) and ev.item.role == "user":
            self._heard.set()

    async def wait(self, *, quiet_s: float = PICKUP_QUIET_S, max_s: float = PICKUP_MAX_S) -> str:
        """'spoke' once the callee's first words ended; 'silent' or 'talking' on the timeouts."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_s
        try:
            try:
                await asyncio.wait_for(self._spoke.wait(), quiet_s)
            except TimeoutError:
                return "silent"
            try:
                await asyncio.wait_for(self._done.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                return "talking"
            # End of speech -> endpointing delay -> transcript -> committed turn.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._heard.wait(), max(0.0, deadline - loop.time()))
            return "spoke"
        finally:
            self.close()

    def close(self) -> None:
        self._session.off("user_state_changed", self._on_user_state)
        self._session.off("conversation_item_added", self._on_item)


async def connect_outbound(
    *,
    session: AgentSession[Any],
    state: CallState,
    crew: Crew,
    sip: SipDialer,
    trunk_id: str | None,
    identity: str,
    detector: MachineDetector | None,
    pickup_quiet_s: float = PICKUP_QUIET_S,
    pickup_max_s: float = PICKUP_MAX_S,
    ringing_timeout_s: float = DEFAULT_RINGING_TIMEOUT_S,
) -> DialResult:
    """Dial the callee for a session that is already running with a HoldAgent.

    Not answered: the outcome says why and the room is deleted. A voicemail box: the crew's
    voicemail message, then hang up. A person (or an uncertain verdict): once they have said
    their "Hello?" (or stayed quiet `pickup_quiet_s`), the crew takes over.
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
            ringing_timeout_s=ringing_timeout_s,
        )
    if not result.answered:
        assert result.outcome is not None
        logger.info(
            "call %s: not answered: %s (%s)", info.call_id, result.outcome.value, result.reason
        )
        state.set_outcome(result.outcome)
        state.errors.append(result.reason)
        state.notes["dial"] = {"outcome": result.outcome.value, "ring_s": _round(result.ring_s)}
        state.ended_by = "dial"
        if detector is not None:
            await detector.aclose()
        await state.control.hang_up(result.outcome.value)
        return result

    state.notes["dial"] = {"outcome": "answered", "ring_s": _round(result.ring_s)}
    pickup = PickupListener(session)
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
        pickup.close()
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
        await state.control.hang_up(str(state.outcome))
        return result
    heard = await pickup.wait(quiet_s=pickup_quiet_s, max_s=pickup_max_s)
    state.notes["pickup"] = heard
    logger.debug("call %s: answered; callee at pick-up: %s", info.call_id, heard)
    session.update_agent(crew.first_agent(state))
    return result


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
