"""The engine's view of one call, and the contract a crew fulfils.

The engine (worker, simulator, reports) only needs what is here. A crew in `agents/` extends
`CallState` with its own typed fields and is found by the `callcrew.crews` entry point, so the
engine never imports the crew.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from callcrew.context import ContextPolicy
from callcrew.providers.phrases import PhraseCache, PhraseStats

if TYPE_CHECKING:
    from livekit.agents import Agent
    from livekit.agents.llm import ChatContext

    from callcrew.profile import BusinessProfile
    from callcrew.settings import Settings
    from callcrew.store import Store


class Channel(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    WEB = "web"


class Outcome(enum.StrEnum):
    """How a call ended; the report's `outcome`. The crew sets it, the engine defaults it."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"  # caller was served and said goodbye
    BOOKED = "booked"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    INFO = "info"  # questions answered, nothing changed
    TRANSFERRED = "transferred"
    MESSAGE_TAKEN = "message_taken"
    CALLER_HUNG_UP = "caller_hung_up"
    VOICEMAIL = "voicemail"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    SILENT = "silent"
    SURVEY_DONE = "survey_done"
    CONFIRMED = "confirmed"  # an outbound confirmation call got its yes
    TIME_LIMIT = "time_limit"  # ended by MAX_CALL_SECONDS
    PROVIDER_FAILURE = "provider_failure"  # every provider of a block failed (apology, end)


# How a call ended, as opposed to what it achieved.
_ENDINGS = frozenset(
    {Outcome.COMPLETED, Outcome.SILENT, Outcome.TIME_LIMIT, Outcome.PROVIDER_FAILURE}
)


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class CallInfo:
    """What the engine knows about a call before the crew speaks."""

    channel: Channel
    room: str
    call_id: str = field(default_factory=new_call_id)
    caller_number: str | None = None  # E.164; the remote party on phone calls
    dialled_number: str | None = None  # the business number the caller dialled (inbound)
    metadata: dict[str, Any] = field(default_factory=dict)  # dispatch metadata (outbound)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class KeyPress:
    """One keypad digit the caller pressed (RFC 2833 DTMF, `sip_dtmf_received`)."""

    digit: str
    at: datetime
    agent: str | None  # the agent that was current when it arrived
    action: str | None = None  # what the crew did with it ("person", "confirm", ...), or None

    def as_dict(self) -> dict[str, Any]:
        return {
            "digit": self.digit,
            "at": self.at.isoformat(),
            "agent": self.agent,
            "action": self.action,
        }


class CallControl(Protocol):
    """What agents may do to the call itself. The worker acts on the LiveKit room; the
    simulator records the request so a rehearsal can assert it."""

    async def hang_up(self, reason: str) -> None: ...

    async def transfer(self, to_number: str) -> None: ...

    async def warm_transfer(self, to_number: str, chat_ctx: ChatContext) -> None:
        """Dial a human, brief them, then connect the caller; raises ToolError when nobody
        takes the call (the caller stays with the agent)."""
        ...

    @property
    def can_transfer(self) -> bool: ...

    @property
    def can_warm_transfer(self) -> bool: ...


@dataclass
class CallState:
    """Fields every crew's userdata carries; a crew subclasses this (see agents/calldata.py)."""

    info: CallInfo
    control: CallControl
    store: Store
    profile: BusinessProfile
    now: Callable[[], datetime]
    outcome: Outcome = Outcome.IN_PROGRESS
    agents_visited: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ended_by: str | None = None  # "agent", "caller", "error", ...
    notes: dict[str, Any] = field(default_factory=dict)  # engine facts for the report (amd, ...)
    keypad: list[KeyPress] = field(default_factory=list)  # every digit, in order
    context_policy: ContextPolicy = field(default_factory=ContextPolicy)
    phrases: PhraseCache | None = None  # fixed phrases played from disk (providers/phrases.py)
    phrase_stats: PhraseStats = field(default_factory=PhraseStats)

    def visit(self, agent_name: str) -> None:
        if not self.agents_visited or self.agents_visited[-1] != agent_name:
            self.agents_visited.append(agent_name)

    def set_outcome(self, outcome: Outcome) -> None:
        """Keep the most informative outcome: a booking is not overwritten by the way the call
        ended (a goodbye, silence, the time limit); `ended_by` records that instead."""
        if outcome in _ENDINGS and self.outcome not in (Outcome.IN_PROGRESS, Outcome.INFO):
            return
        self.outcome = outcome

    def report_extras(self) -> dict[str, Any]:
        """Crew-specific facts for the call report (customer, bookings...)."""
        return {}


@dataclass(frozen=True)
class ProviderFailurePlan:
    """What the caller hears when every provider of a block (STT, LLM or TTS) has failed, and
    what happens next: a transfer to `transfer_to`, or a clean hang-up."""

    say: str
    transfer_to: str | None = None  # E.164
    action: str = "hang_up"  # for the report: "transfer", "callback", "hang_up"


@dataclass(frozen=True)
class CrewContext:
    """Everything a crew needs to open a call."""

    settings: Settings
    profile: BusinessProfile
    store: Store
    control: CallControl
    now: Callable[[], datetime]
    prompts_dir: str | None = None
    phrases: PhraseCache | None = None


class Crew(Protocol):
    """A crew: creates the typed userdata for a call and the first agent to speak."""

    name: str

    def new_call(self, info: CallInfo, ctx: CrewContext) -> Awaitable[CallState]: ...

    def first_agent(self, state: CallState) -> Agent: ...

    def voicemail_message(self, state: CallState) -> str:
        """What an answering machine hears on an outbound call."""
        ...

    def on_provider_failure(self, state: CallState, block: str) -> ProviderFailurePlan:
        """Every provider of `block` failed: the apology and offer (a message or a transfer).
        Optional: without it the engine apologises, offers a call-back and hangs up."""
        ...
