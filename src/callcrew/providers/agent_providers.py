"""Per-agent providers: one agent's own STT, LLM, TTS and turn handling, from its crew's config.

A crew puts `AgentProviders` in its profile section (same `provider/model` syntax as the `STT`,
`LLM`, `TTS` settings) and builds each agent with `agent_kwargs(state, agent_id, overrides)`.
On a call the engine built (`register`, from providers/session.py) the overridden blocks become
their own fallback chains, behind the same gate, timeouts, filler and provider log as the
session's; a block that cannot be built (a missing key) falls back to the session's, with an
error line in the report. On a session the engine did not build (a text rehearsal) nothing is
built, so the replay model answers every agent; either way the overrides are recorded, and the
report prices each agent at its own models (metrics/agent_usage.py, metrics/call_cost.py).
"""

from __future__ import annotations

import dataclasses
import logging
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from callcrew.metrics.agent_usage import ledger_for
from callcrew.providers.stacks import STACKS, Block, StackChoice, known_providers, missing_keys
from callcrew.scrub import scrub
from callcrew.settings import Settings, SettingsError

if TYPE_CHECKING:
    from callcrew.providers.recovery import ProviderRecovery

logger = logging.getLogger("callcrew.providers")

Kind = Literal["stt", "llm", "tts"]
KINDS: tuple[Kind, ...] = ("stt", "llm", "tts")


def _block(kind: Kind, raw: str) -> str:
    text = raw.strip()
    provider, slash, _ = text.partition("/")
    if not slash or not provider:
        example = STACKS["economy"][kind]
        raise ValueError(f"write it as provider/model, e.g. {example}")
    known = known_providers(kind)
    if provider not in known:
        # scrub: a key pasted into the wrong field must not be echoed back
        raise ValueError(
            scrub(f"unknown provider {provider!r} (choose from {', '.join(sorted(known))})")
        )
    return text


def _chain(kind: Kind, raw: Any) -> tuple[str, ...] | None:
    if raw is None:
        return None
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError("give provider/model names, comma-separated or as a list")
    return tuple(_block(kind, i) for i in items if i.strip())


class AgentProviders(BaseModel):
    """One agent's overrides of the call's stack; anything unset is the session's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stt: str | None = Field(None, description="e.g. deepgram/nova-3")
    llm: str | None = Field(None, description="e.g. openai/gpt-4.1")
    tts: str | None = Field(None, description="e.g. elevenlabs/eleven_flash_v2_5")
    # None: the call's *_FALLBACK chain; an empty list: no fallback for this agent.
    stt_fallback: tuple[str, ...] | None = None
    llm_fallback: tuple[str, ...] | None = None
    tts_fallback: tuple[str, ...] | None = None
    turn_detection: Literal["vad", "eot", "words"] | None = None
    endpointing_min_delay: float | None = Field(None, ge=0, le=10)
    endpointing_max_delay: float | None = Field(None, gt=0, le=30)
    interruptions: bool | None = None

    @field_validator("stt", "llm", "tts", mode="before")
    @classmethod
    def _spec(cls, v: Any, info: Any) -> Any:
        if v is None:
            return None
        if not isinstance(v, str):
            raise ValueError("must be a provider/model name")
        return _block(info.field_name, v)

    @field_validator("stt_fallback", "llm_fallback", "tts_fallback", mode="before")
    @classmethod
    def _fallbacks(cls, v: Any, info: Any) -> Any:
        return _chain(info.field_name.removesuffix("_fallback"), v)

    @model_validator(mode="after")
    def _delays(self) -> AgentProviders:
        low, high = self.endpointing_min_delay, self.endpointing_max_delay
        if low is not None and high is not None and high < low:
            raise ValueError("endpointing_max_delay must not be below endpointing_min_delay")
        return self

    def choice(self, base: StackChoice) -> StackChoice:
        """The call's stack with this agent's blocks and fallbacks in place."""
        changes: dict[str, Any] = {}
        for kind in KINDS:
            if (spec := getattr(self, kind)) is not None:
                changes[kind] = Block.parse(spec)
            if (chain := getattr(self, f"{kind}_fallback")) is not None:
                changes[f"{kind}_fallback"] = tuple(Block.parse(s) for s in chain)
        return dataclasses.replace(base, **changes)

    def overridden(self, kind: Kind) -> bool:
        return getattr(self, kind) is not None or getattr(self, f"{kind}_fallback") is not None

    def summary(self) -> dict[str, str]:
        """What the report shows: each override as its setting would read."""
        out: dict[str, str] = {}
        for name, value in self.model_dump(exclude_none=True).items():
            out[name] = ", ".join(value) if isinstance(value, tuple | list) else str(value)
        return out

    def turn_handling(self, list_nouns: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The agent's part of LiveKit's TurnHandlingOptions (only what it overrides);
        `list_nouns`: the crew's, for its own word turn detector."""
        out: dict[str, Any] = {}
        if self.turn_detection is not None:
            out["turn_detection"] = _detector(self.turn_detection, list_nouns)
        endpointing = {
            key: value
            for key, value in (
                ("min_delay", self.endpointing_min_delay),
                ("max_delay", self.endpointing_max_delay),
            )
            if value is not None
        }
        if endpointing:
            out["endpointing"] = endpointing
        if self.interruptions is not None:
            out["interruption"] = {"enabled": self.interruptions}
        return out


def _detector(mode: str, list_nouns: frozenset[str]) -> Any:
    if mode == "eot":
        from callcrew.providers.session import load_turn_detector

        return load_turn_detector()
    if mode == "words":
        from callcrew.providers.turn_words import DictationTurnDetector

        return DictationTurnDetector(list_nouns=list_nouns)
    return "vad"


@dataclass
class CallProviders:
    """How the engine built this call's session: what an agent's own blocks are built from."""

    settings: Settings
    choice: StackChoice
    vad_model: Any = None
    text_only: bool = False
    llm_replaced: bool = False  # the replay model answers every agent (tests, rehearsals)
    recovery: ProviderRecovery | None = None
    list_nouns: frozenset[str] = frozenset()  # the crew's (Crew.list_nouns)

    def build(self, agent: str, overrides: AgentProviders, errors: list[str]) -> dict[str, Any]:
        from callcrew.providers.fallback import (
            build_call_stt_chain,
            build_llm_chain,
            build_tts_chain,
        )
        from callcrew.providers.recovery import RecoveringLLM

        settings, choice = self.settings, overrides.choice(self.choice)
        kwargs: dict[str, Any] = {}
        chains = []
        kinds = [k for k in KINDS if overrides.overridden(k)]
        for kind in kinds:
            if self.llm_replaced if kind == "llm" else self.text_only:
                continue
            try:
                own = [str(b) for b in choice.chain(kind)]
                if missing := [
                    p for p in missing_keys(settings, choice) if any(b in p for b in own)
                ]:
                    raise SettingsError(missing)
                if kind == "stt":
                    chain = build_call_stt_chain(settings, choice, self.vad_model)
                elif kind == "tts":
                    chain = build_tts_chain(settings, choice)
                else:
                    chain = build_llm_chain(settings, choice)
            except (SettingsError, ValueError) as exc:
                # The call goes on with the session's block rather than failing a hand-off.
                problems = exc.problems if isinstance(exc, SettingsError) else [str(exc)]
                line = scrub(f"{kind} for agent {agent}: {'; '.join(problems)}")
                logger.error("%s (using the call's %s)", line, kind)
                errors.append(f"{line} (used the call's {kind})")
                continue
            chains.append(chain)
            if kind == "llm":
                model = RecoveringLLM(chain, filler_after=settings.filler_after)
                if self.recovery is not None:
                    self.recovery.bind_llm(model)
                kwargs["llm"] = model
            else:
                kwargs[kind] = chain.engine
        if self.recovery is not None:
            for chain in chains:
                self.recovery.log.attach(chain, key=f"{chain.kind}@{agent}")
        if handling := overrides.turn_handling(self.list_nouns):
            kwargs["turn_handling"] = handling
        return kwargs


_CALLS: dict[int, CallProviders] = {}


def register(state: object, providers: CallProviders) -> None:
    """The engine built `state`'s session with `providers`: agents' own blocks may be built."""
    key = id(state)
    try:
        weakref.finalize(state, _CALLS.pop, key, None)
    except TypeError:  # no call state to build agents for
        return
    _CALLS[key] = providers


def agent_kwargs(state: Any, agent: str, overrides: AgentProviders | None) -> dict[str, Any]:
    """Keyword arguments for `Agent(...)` giving agent `agent` (its LiveKit id) its overrides.

    Empty when there are none, or when the session was not built by the engine (then they are
    only recorded, for the report and its per-agent prices).
    """
    ledger_for(state).record_overrides(agent, overrides.summary() if overrides else {})
    if overrides is None:
        return {}
    call = _CALLS.get(id(state))
    if call is None:
        return {}
    errors = getattr(state, "errors", None)
    return call.build(agent, overrides, errors if isinstance(errors, list) else [])


def overrides_in(section: Any, where: str = "") -> list[tuple[str, AgentProviders]]:
    """Every `AgentProviders` inside a crew's profile section, with where it sits."""
    if isinstance(section, AgentProviders):
        return [(where, section)]
    found: list[tuple[str, AgentProviders]] = []
    if isinstance(section, BaseModel):
        for name in type(section).model_fields:
            found += overrides_in(getattr(section, name), f"{where}.{name}".strip("."))
    elif isinstance(section, dict):
        for key, value in section.items():
            found += overrides_in(value, f"{where}.{key}".strip("."))
    elif isinstance(section, list | tuple):
        for i, value in enumerate(section):
            found += overrides_in(value, f"{where}.{i}".strip("."))
    return found


def missing_agent_keys(settings: Settings, base: StackChoice, section: Any) -> list[str]:
    """The keys the crew's per-agent overrides need that the settings do not have, so the
    worker refuses to start instead of an agent falling back mid-call."""
    known = set(missing_keys(settings, base))
    problems: list[str] = []
    for where, overrides in overrides_in(section):
        for problem in missing_keys(settings, overrides.choice(base)):
            if problem not in known and problem not in problems:
                problems.append(f"{problem}; the profile's {where} overrides it")
    return problems
