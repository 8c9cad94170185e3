"""A rehearsal call's two ends, shared by every mode (text, LLM caller, audio): open, conclude.

`open_call` opens the crew's call as the worker opens a live one (`OpenCall`); each mode plays
it its own way and hands `conclude` what it played (`Played`) and what is its own
(stack, cost basis, problems, extra report keys); `conclude` writes the report (priced, saved,
even when the session failed) and checks the scenario's `expect`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from livekit.agents import llm

from callcrew.call import CallInfo, CallState, CrewContext
from callcrew.crews import LoadedCrew, load_crew
from callcrew.metrics.call_cost import cost_of_report
from callcrew.metrics.pricing import load_catalog
from callcrew.metrics.report import ProvidersReport, build_report
from callcrew.profile import BusinessProfile
from callcrew.settings import Settings
from callcrew.simulate.checks import check_expectations
from callcrew.simulate.replay import ReplayCall
from callcrew.simulate.runner import SimCallControl, SimResult, TurnLog
from callcrew.simulate.scenario import Scenario
from callcrew.store import Store


@dataclass
class OpenCall:
    """The call `open_call` opened, with the store and profile it runs on."""

    crew: LoadedCrew
    control: SimCallControl
    info: CallInfo
    state: CallState
    store: Store
    profile: BusinessProfile


async def open_call(
    scenario: Scenario,
    settings: Settings,
    profile: BusinessProfile,
    store: Store,
    now: Callable[[], datetime],
) -> OpenCall:
    """The crew's call for a rehearsal, as the worker opens one for a live call."""
    crew = load_crew(settings.crew)
    control = SimCallControl(scenario.channel)
    info = CallInfo(
        channel=scenario.channel,
        room=f"rehearsal-{scenario.label}",
        caller_number=scenario.caller,
        dialled_number=scenario.dialled,
        # The crew runs on the frozen clock; the report's times are real, like a live call's.
        started_at=datetime.now(UTC),
    )
    if scenario.task:
        settings = settings.model_copy(update={"task_agent": scenario.task})
    ctx = CrewContext(
        settings=settings,
        profile=profile,
        store=store,
        control=control,
        now=now,
        prompts_dir=str(settings.prompts_dir) if settings.prompts_dir else None,
    )
    return OpenCall(crew, control, info, await crew.new_call(info, ctx), store, profile)


@dataclass
class Played:
    """What the call played: the session's history and usage, the agent on the line at the end
    (none when it failed), the failure, and the log of the opening and of each caller turn."""

    history: llm.ChatContext
    usage: Any
    final_agent: str | None
    error: str | None
    opening: TurnLog
    turn_logs: list[TurnLog]


@dataclass
class Conclusion:
    """Everything a finished rehearsal (text or audio) hands over for its report and checks."""

    call: OpenCall
    played: Played
    clock: datetime
    stack: str
    problems: list[str]
    started: float
    replay_calls: int
    cost_stack: str
    estimate_speech: bool
    true_end_of_speech: dict[int, float] | None = None
    llm_calls: list[ReplayCall] = field(default_factory=list)
    providers: ProvidersReport | None = None  # fallback chains, switches (live models)
    rehearsal: dict[str, Any] = field(default_factory=dict)  # extra facts (mode, ...)
    extra: dict[str, Any] = field(default_factory=dict)  # extra report keys (audio, ...)


async def conclude(scenario: Scenario, settings: Settings, c: Conclusion) -> SimResult:
    """Write the report (priced, saved, even when the session failed) and check `expect`."""
    call, played = c.call, c.played
    control, state = call.control, call.state
    if control.hung_up is None and control.transferred_to is None and played.error is None:
        state.ended_by = state.ended_by or "caller"
    report = build_report(
        state,
        info=call.info,
        history=played.history,
        usage=played.usage,
        stack=c.stack,
        ended_at=datetime.now(UTC),
        error=played.error,
        true_end_of_speech=c.true_end_of_speech,
        providers=c.providers,
        extra={
            "rehearsal": {
                "scenario": scenario.label,
                "clock": c.clock.isoformat(),
                "hung_up": control.hung_up,
                "transferred_to": control.transferred_to,
                "warm_transfer": control.warm,
                **c.rehearsal,
            },
            **c.extra,
        },
    )
    report["cost"] = cost_of_report(
        report,
        load_catalog(settings.prices_file),
        c.cost_stack,
        estimate_speech=c.estimate_speech,
    )
    await asyncio.to_thread(call.store.reports.save, report)
    failures = [f"the session failed: {played.error}"] if played.error else []
    failures += c.problems
    failures += await asyncio.to_thread(
        check_expectations,
        scenario,
        state,
        call.store,
        control,
        played.final_agent,
        [played.opening, *played.turn_logs],
        call.profile,
        report,
        call.crew,
    )
    return SimResult(
        scenario=scenario,
        passed=not failures,
        failures=failures,
        turns=played.turn_logs,
        opening=played.opening,
        report=report,
        state=state,
        final_agent=played.final_agent,
        wall_s=time.perf_counter() - c.started,
        replay_calls=c.replay_calls,
        llm_calls=c.llm_calls,
    )
