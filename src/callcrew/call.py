"""The engine's view of one call, and the contract a crew fulfils.

The engine (worker, simulator, reports) only needs what is here. A crew in `agents/` extends
`CallState` with its own typed fields and is found by the `callcrew.crews` entry point, so the
engine never imports the crew.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from callcrew.context import ContextPolicy
from callcrew.providers.phrases import PhraseCache, PhraseStats

if TYPE_CHECKING:
    import sqlalchemy
    from livekit.agents import Agent
    from livekit.agents.llm import ChatContext
    from pydantic import BaseModel

    from callcrew.profile import BusinessProfile
    from callcrew.settings import Settings
    from callcrew.store import Store


class Channel(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    WEB = "web"


class Outcome(enum.StrEnum):
    """How a call ended, at the call level; the report's `outcome` unless the crew set one of
    its own (`Crew.outcomes`: booked, order_placed, ...). The engine defaults it."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"  # caller was served and said goodbye
    TRANSFERRED = "transferred"
    MESSAGE_TAKEN = "message_taken"
    CALLER_HUNG_UP = "caller_hung_up"
    VOICEMAIL = "voicemail"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    SILENT = "silent"
    TIME_LIMIT = "time_limit"  # ended by MAX_CALL_SECONDS
    PROVIDER_FAILURE = "provider_failure"  # every provider of a block failed (apology, end)


# How a call ended, as opposed to what it achieved: these never overwrite an achieved outcome.
_ENDINGS = frozenset(
    {Outcome.COMPLETED, Outcome.SILENT, Outcome.TIME_LIMIT, Outcome.PROVIDER_FAILURE}
)
ENGINE_OUTCOMES: frozenset[str] = frozenset(o.value for o in Outcome)
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class CrewOutcome:
    """An outcome a crew adds to the engine's (`booked`, `order_placed`, ...)."""

    name: str  # ^[a-z][a-z0-9_]*$, not one of the engine's
    meaning: str  # one line, for docs, `calls stats` and judges
    # True: how the call ended (goodbye, silence, time limit) never overwrites it. False (the
    # desk's `info`: questions answered, nothing changed): a later outcome may.
    achieved: bool = True


@dataclass(frozen=True)
class ProfileSection:
    """The crew's own part of the business profile: one top-level YAML key, typed by the crew
    and validated with the profile's errors (`desk.services.0.duration_minutes: ...`)."""

    key: str  # e.g. "desk"
    model: type[BaseModel]
    required: bool = True  # False: a profile without the key gets `model()` (all defaults)


@dataclass(frozen=True)
class CrewTables:
    """The crew's own tables in the engine's database, with their Alembic migrations."""

    metadata: sqlalchemy.MetaData  # the crew's own DeclarativeBase's metadata
    migrations: Path  # the crew's Alembic versions directory
    branch: str  # Alembic branch label, e.g. "desk"; the engine's is "callcrew"
    # The crew's repositories over an open store (store.crew_data), from the store's shared
    # `Sessions` (store/repositories.py) and clock; None: the crew reads its tables itself.
    repositories: Callable[[Any, Callable[[], datetime]], Any] | None = None


@dataclass(frozen=True)
class Purpose:
    """Why an outbound call is made (`dial --purpose NAME --data key=value`)."""

    name: str  # ^[a-z][a-z0-9_]*$; "custom" is the engine's
    meaning: str
    data: type[BaseModel]  # the purpose's metadata (dial --data k=v, CSV columns)


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
    outcome: str = Outcome.IN_PROGRESS  # an Outcome or one of `crew_outcomes`' names
    agents_visited: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ended_by: str | None = None  # "agent", "caller", "error", ...
    notes: dict[str, Any] = field(default_factory=dict)  # engine facts for the report (amd, ...)
    keypad: list[KeyPress] = field(default_factory=list)  # every digit, in order
    context_policy: ContextPolicy = field(default_factory=ContextPolicy)
    phrases: PhraseCache | None = None  # fixed phrases played from disk (providers/phrases.py)
    phrase_stats: PhraseStats = field(default_factory=PhraseStats)
    # The crew's outcomes; a crew's CallState subclass may default it, and the engine binds the
    # loaded crew's when it is left empty (crews.LoadedCrew.new_call).
    crew_outcomes: Sequence[CrewOutcome] = ()

    def visit(self, agent_name: str) -> None:
        if not self.agents_visited or self.agents_visited[-1] != agent_name:
            self.agents_visited.append(agent_name)

    def set_outcome(self, outcome: str) -> None:
        """Keep the most informative outcome: an achieved one (a booking, a transfer) is not
        overwritten by the way the call ended (a goodbye, silence, the time limit); `ended_by`
        records that instead. An unknown name is a crew bug: ValueError."""
        value: str
        if outcome in ENGINE_OUTCOMES:
            value = Outcome(outcome)
        elif any(o.name == outcome for o in self.crew_outcomes):
            value = str(outcome)
        else:
            known = sorted(ENGINE_OUTCOMES | {o.name for o in self.crew_outcomes})
            raise ValueError(f"unknown outcome {outcome!r}; one of {', '.join(known)}")
        if value in _ENDINGS and self._achieved():
            return
        self.outcome = value

    def _achieved(self) -> bool:
        if self.outcome == Outcome.IN_PROGRESS:
            return False
        return all(o.achieved for o in self.crew_outcomes if o.name == self.outcome)

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
    """A crew, as the engine sees it once loaded (crews.load_crew).

    A crew object must have `name`, `new_call`, `first_agent` and `voicemail_message`; every
    other member is optional and `crews.LoadedCrew` supplies the engine default (no outcomes,
    no profile section, no tables, no purposes beyond "custom", no list nouns, no-op hooks).
    """

    name: str
    outcomes: Sequence[CrewOutcome]
    profile_section: ProfileSection | None
    tables: CrewTables | None
    purposes: Sequence[Purpose]
    # The crew's scenario vocabulary (callcrew.simulate.crewkit.Rehearsal, crew-edges), or None.
    rehearsal: Any
    # Plural nouns of the crew's domain that make "which/what/who ...?" a list question for the
    # word turn detector ("Which treatments would you like?": wait for the rest of the list),
    # beside the engine's own any-business ones (providers/turn_question.py LIST_NOUNS).
    list_nouns: frozenset[str]

    def new_call(self, info: CallInfo, ctx: CrewContext) -> Awaitable[CallState]: ...

    def first_agent(self, state: CallState) -> Agent: ...

    def voicemail_message(self, state: CallState) -> str:
        """What an answering machine hears on an outbound call."""
        ...

    def on_provider_failure(self, state: CallState, block: str) -> ProviderFailurePlan:
        """Every provider of `block` failed: the apology and offer (a message or a transfer).
        Default: the engine apologises, offers a call-back and hangs up."""
        ...

    def check_dispatch(self, store: Store, purpose: str, data: BaseModel) -> None:
        """Before `dial` dispatches: raise callcrew.errors.UserError("order 7 does not exist")
        for data the call cannot use. Default: nothing to check."""
        ...

    def seed(
        self, store: Store, data: Mapping[str, Any], now: datetime, profile: BusinessProfile
    ) -> None:
        """A scenario's `data:` block into the crew's tables (the crew validates it, raising
        UserError with one clear line). Default: a non-empty block is an error."""
        ...

    def snapshot(self, store: Store) -> dict[str, Any]:
        """The crew's tables after a rehearsal, for `expect: store:` subset matching.
        Default: {}."""
        ...

    def default_profile(self) -> Path | None:
        """The crew's built-in business profile (used when PROFILE_PATH is unset), or None."""
        ...

    def demo_scenario(self) -> Path | None:
        """The scenario `callcrew simulate` plays with no arguments, or None."""
        ...
