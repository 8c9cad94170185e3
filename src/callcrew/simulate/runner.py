"""Plays a scenario through the real crew, tools and store in a text-mode AgentSession.

Only the model is replaced (the replay LLM), unless a live OpenAI-compatible LLM is given, in
which case the same caller lines and expectations rehearse the real model. The text call
itself is `textcall.py`; several calls on one store, `group.py`; spoken ones, `audio.py`; how
each opens and concludes, `conclusion.py`.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from livekit.agents import ToolError, llm
from livekit.agents.voice.run_result import (
    AgentHandoffEvent,
    ChatMessageEvent,
    FunctionCallEvent,
    FunctionCallOutputEvent,
)

from callcrew.call import CallState, Channel
from callcrew.crews import LoadedCrew, load_crew
from callcrew.profile import BusinessProfile, load_profile, parse_profile
from callcrew.settings import Settings
from callcrew.simulate.crewkit import rehearsal_of
from callcrew.simulate.replay import ReplayCall
from callcrew.simulate.scenario import CallsScenario, Scenario
from callcrew.store import Store, open_store

if TYPE_CHECKING:
    from callcrew.simulate.audio import AudioOptions
    from callcrew.simulate.caller_llm import CallerLLM
    from callcrew.simulate.judges import JudgePanel


@dataclass
class SimCallControl:
    """Records what the crew asked of the call; a phone line is assumed unless channel is web."""

    channel: Channel
    hung_up: str | None = None
    transferred_to: str | None = None
    warm: bool = False  # the last transfer was warm
    warm_failure: str | None = None  # set to make a warm transfer fail with this reason

    async def hang_up(self, reason: str) -> None:
        self.hung_up = reason

    async def transfer(self, to_number: str) -> None:
        self.transferred_to = to_number

    async def warm_transfer(self, to_number: str, chat_ctx: llm.ChatContext) -> None:
        if self.warm_failure:
            raise ToolError(self.warm_failure)
        self.transferred_to, self.warm = to_number, True

    @property
    def can_transfer(self) -> bool:
        return self.channel is not Channel.WEB

    @property
    def can_warm_transfer(self) -> bool:
        return self.channel is not Channel.WEB


@dataclass
class TurnLog:
    index: int
    caller: str
    wall_s: float
    events: list[dict[str, Any]] = field(default_factory=list)
    call: str | None = None  # "call 2" when several calls share a store


@dataclass
class SimResult:
    scenario: Scenario
    passed: bool
    failures: list[str]
    turns: list[TurnLog]
    opening: TurnLog
    report: dict[str, Any]
    state: CallState
    final_agent: str | None
    wall_s: float
    replay_calls: int
    snapshot: dict[str, Any] = field(default_factory=dict)  # the crew's records at the end
    parts: list[SimResult] = field(default_factory=list)  # each call of a `calls:` scenario
    llm_calls: list[ReplayCall] = field(default_factory=list)  # each replayed request (bench/cost)


def profile_for(scenario: Scenario, settings: Settings) -> BusinessProfile:
    base = load_profile(settings.business_profile, settings.crew)
    if scenario.profile is None:
        return base
    if isinstance(scenario.profile, dict):
        merged = {**base.as_data(), **scenario.profile}
        return parse_profile(merged, f"{scenario.label}: profile", settings.crew)
    path = scenario.profile
    if not path.is_absolute() and scenario.source is not None:
        path = scenario.source.parent / path
    return load_profile(path, settings.crew)


def local_time(profile: BusinessProfile, when: datetime) -> datetime:
    return when.replace(tzinfo=profile.tz) if when.tzinfo is None else when


def seed(
    crew: LoadedCrew, store: Store, scenario: Scenario, profile: BusinessProfile, now: datetime
) -> None:
    """The scenario's `data:` into the crew's tables (the crew validates it: UserError)."""
    crew.seed(store, scenario.seed_data(), now, profile)


def rehearsal_profile(crew: LoadedCrew, scenario: Scenario, settings: Settings) -> BusinessProfile:
    """The profile a scenario runs on, as the crew adjusts it for its `data:`."""
    profile = profile_for(scenario, settings)
    hook = rehearsal_of(crew).profile
    return profile if hook is None else hook(profile, scenario.seed_data())


def event_dict(ev: Any) -> dict[str, Any] | None:
    if isinstance(ev, ChatMessageEvent):
        if ev.item.role != "assistant":
            return None
        return {"type": "say", "text": ev.item.text_content or "", "metrics": dict(ev.item.metrics)}
    if isinstance(ev, FunctionCallEvent):
        return {"type": "tool_call", "name": ev.item.name, "arguments": ev.item.arguments}
    if isinstance(ev, FunctionCallOutputEvent):
        return {
            "type": "tool_result",
            "name": ev.item.name,
            "output": ev.item.output,
            "is_error": ev.item.is_error,
        }
    if isinstance(ev, AgentHandoffEvent):
        return {
            "type": "handoff",
            "from": ev.old_agent.id if ev.old_agent is not None else None,
            "to": ev.new_agent.id,
        }
    return None


def opening_events(history: llm.ChatContext) -> list[dict[str, Any]]:
    """What the crew said before the caller's first line (the greeting)."""
    return [
        {"type": "say", "text": item.text_content or "", "metrics": dict(item.metrics)}
        for item in history.items
        if item.type == "message" and item.role == "assistant"
    ]


async def run_scenario(
    scenario: Scenario,
    settings: Settings,
    *,
    live_llm: llm.LLM[Any] | None = None,
    database_url: str | None = None,
    on_turn: Callable[[TurnLog], None] | None = None,
    audio: AudioOptions | None = None,
    caller: CallerLLM | None = None,
    judges: JudgePanel | None = None,
    store_url: str | None = None,
) -> SimResult:
    """Run one scenario on a fresh SQLite store seeded from the scenario; with `database_url`
    its call report is also saved there (a store of rehearsals for `callcrew calls`).

    With `audio`, the caller's lines are spoken into the real audio pipeline (simulate/audio.py).
    `store_url` names an empty store to rehearse on instead of the temp SQLite file (the tests
    rehearse on Postgres this way).
    """
    started = time.perf_counter()
    crew = load_crew(settings.crew)
    profile = rehearsal_profile(crew, scenario, settings)
    now = frozen_clock(profile, scenario.now)

    with tempfile.TemporaryDirectory(prefix="callcrew-sim-") as tmp:
        store = open_store(store_url or f"sqlite:///{Path(tmp) / 'rehearsal.db'}", crew=crew)
        try:
            await asyncio.to_thread(seed, crew, store, scenario, profile, now())
            if isinstance(scenario, CallsScenario):
                if audio is not None:
                    raise ValueError("a 'calls:' scenario is rehearsed in text only (no --audio)")
                from callcrew.simulate.group import play_group

                result = await play_group(scenario, settings, profile, store, live_llm, on_turn)
            elif audio is not None:
                import dataclasses

                from callcrew.simulate.audio import play_audio

                if caller is not None:  # --audio --caller-llm: the LLM's lines, spoken
                    audio = dataclasses.replace(audio, caller=caller)

                result = await play_audio(
                    scenario, settings, profile, store, now, on_turn, started, audio
                )
            elif caller is not None:  # --caller-llm (simulate/caller_llm.py)
                from callcrew.simulate.caller_llm import play_caller

                result = await play_caller(
                    scenario, settings, profile, store, now, live_llm, caller, on_turn, started
                )
            else:
                from callcrew.simulate.textcall import TextCall, play_text

                call = TextCall(
                    scenario, settings, profile, store, now, live_llm=live_llm, on_turn=on_turn
                )
                result = await play_text(call)
            result.snapshot = await asyncio.to_thread(crew.snapshot, store)
            if judges is not None:  # --judge (simulate/judges.py)
                await judges.grade(result, profile.name)
        finally:
            store.close()
    if database_url:
        # Every scenario seeds its own data, so only the reports go to the shared store.
        with open_store(database_url, crew=settings.crew) as reports:
            for part in result.parts or [result]:
                await asyncio.to_thread(reports.reports.save, part.report)
    return result


def frozen_clock(profile: BusinessProfile, when: datetime) -> Callable[[], datetime]:
    """The rehearsal's clock: `when` (local at the business), standing still."""
    frozen = local_time(profile, when).astimezone(UTC)

    def now() -> datetime:
        return frozen

    return now


def dump_report(report: dict[str, Any]) -> str:
    return yaml.safe_dump(report, sort_keys=False, allow_unicode=True)
