"""Several calls against one store: a `calls:` scenario.

`run: sequence` plays each call to its end before the next starts (book today, call back
tomorrow to cancel: each call has its own clock). `run: together` opens every call, then plays
caller line 1 of every call at once, then line 2, and so on: the calls' tools really run
concurrently against the store, so two callers can race for the last slot. Who wins a race is
not fixed; a script follows either result with `when_ok:` / `when_error:` branches, and the
file's `expect` checks the shared store after every call has ended.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from livekit.agents import llm

from callcrew.crews import load_crew
from callcrew.profile import BusinessProfile
from callcrew.settings import Settings
from callcrew.simulate.checks import check_records
from callcrew.simulate.runner import SimResult, TurnLog, frozen_clock, profile_for
from callcrew.simulate.scenario import CallsScenario
from callcrew.simulate.textcall import TextCall, play_text
from callcrew.store import Store


async def play_group(
    scenario: CallsScenario,
    settings: Settings,
    profile: BusinessProfile,
    store: Store,
    live_llm: llm.LLM[Any] | None,
    on_turn: Callable[[TurnLog], None] | None,
) -> SimResult:
    started = time.perf_counter()
    calls = []
    for spec in scenario.calls:
        call_profile = profile_for(spec, settings)
        calls.append(
            TextCall(
                spec,
                settings,
                call_profile,
                store,
                frozen_clock(call_profile, spec.now),
                live_llm=live_llm,
                on_turn=on_turn,
            )
        )
    if scenario.run == "sequence":
        parts = [await play_text(call) for call in calls]
    else:
        await asyncio.gather(*(call.start() for call in calls))
        for i in range(max(len(c.scenario.turns) for c in calls)):
            await asyncio.gather(*(call.play(i) for call in calls))
        parts = [await call.finish() for call in calls]
    failures = [f"{p.scenario.label}: {f}" for p in parts for f in p.failures]
    failures += await asyncio.to_thread(
        lambda: check_records(
            scenario.expect,
            load_crew(settings.crew),
            store,
            profile,
            crew_data={},
            call_id=None,
            where="the shared store at the end: ",
        )
    )
    last = parts[-1]
    return SimResult(
        scenario=scenario,
        passed=not failures,
        failures=failures,
        turns=[t for p in parts for t in p.turns],
        opening=parts[0].opening,
        report=last.report,
        state=last.state,
        final_agent=last.final_agent,
        wall_s=time.perf_counter() - started,
        replay_calls=sum(p.replay_calls for p in parts),
        parts=parts,
        llm_calls=[c for p in parts for c in p.llm_calls],
    )
