"""Builders for calls that run our crew (intro -> appointments desk) on the fixed-latency
providers, and the same script on a bare `Agent` with no tools, for the pipeline-cost comparison.

The model is the rehearsal's `LineTrackingReplay` (the replay LLM, advanced per committed caller
turn) with a fixed TTFT and token rate, on both sides, so the only difference is our code: the
crew's prompts, tools, handoff, bounded-context `llm_node`, userdata, and the call report built
at the end.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from livekit.agents import Agent

from bench.fakes import FixedTTS, Latencies
from callcrew.simulate.scenario import AgentStep, ToolCall

FROZEN = datetime(2026, 6, 12, 15, 15, tzinfo=UTC)  # Friday 11:15 at the salon
SAY = "Okay, got it."
SLOTS = ToolCall(
    name="find_free_slots", args={"service": "color", "day": "2026-06-17", "part_of_day": "morning"}
)


def crew_turns(n: int) -> dict[int, list[AgentStep]]:
    """Line 0 hands off to the desk; odd lines look up free slots (a tool turn); even lines
    are answered directly (a plain turn)."""
    turns: dict[int, list[AgentStep]] = {-1: []}
    for i in range(n):
        if i == 0:
            handoff = ToolCall(
                name="hand_off_to_desk",
                args={"caller_name": "Priya Raman", "reason": "a colouring next week"},
            )
            turns[i] = [AgentStep(tool=handoff.name, args=handoff.args), AgentStep(say=SAY)]
        elif i % 2:
            turns[i] = [AgentStep(tool=SLOTS.name, args=SLOTS.args), AgentStep(say=SAY)]
        else:
            turns[i] = [AgentStep(say=SAY)]
    return turns


def llm_requests(i: int) -> int:
    return 1 if i and i % 2 == 0 else 2


def bare_turns(n: int) -> dict[int, list[AgentStep]]:
    return {-1: [], **{i: [AgentStep(say=SAY)] for i in range(n)}}


def crew_builder(lat: Latencies, n_lines: int, tmp: Path, greeting: str | None = None) -> Any:
    """`greeting` replaces the profile's (a short one keeps --quick quick)."""
    from agents.crew import CREW

    from callcrew.call import CallInfo, Channel, CrewContext
    from callcrew.profile import load_profile
    from callcrew.settings import Settings
    from callcrew.simulate.audio import LineTrackingReplay
    from callcrew.simulate.replay import ReplayScript
    from callcrew.simulate.runner import SimCallControl
    from callcrew.store import open_store

    words = len(SAY.split())
    box: dict[str, Any] = {}

    async def build(_tts: FixedTTS) -> tuple[Any, Agent, Any, Any]:
        # off the event loop: creating the schema would stall the other calls' audio
        url = f"sqlite:///{tmp / f'crew-{id(box)}-{time.time_ns()}.db'}"
        store = await asyncio.to_thread(open_store, url)
        profile = load_profile()
        if greeting is not None:
            profile = profile.model_copy(update={"greeting": greeting})
        control = SimCallControl(Channel.WEB)
        info = CallInfo(channel=Channel.WEB, room="bench", started_at=datetime.now(UTC))
        ctx = CrewContext(
            settings=Settings(_env_file=None),  # type: ignore[call-arg]
            profile=profile,
            store=store,
            control=control,
            now=lambda: FROZEN,
        )
        state = await CREW.new_call(info, ctx)
        script = ReplayScript(
            turns=crew_turns(n_lines), ttft_s=lat.ttft_ms / 1000, tokens_per_s=lat.tokens_per_s
        )
        model = LineTrackingReplay(script, list(range(n_lines)))
        box.update(state=state, info=info, script=script, store=store)
        return model, CREW.first_agent(state), state, lambda i: (words, llm_requests(i))

    async def on_done(session: Any, state: Any) -> dict[str, Any]:
        from callcrew.metrics.call_cost import cost_of_report
        from callcrew.metrics.pricing import load_catalog
        from callcrew.metrics.report import build_report

        box["script"].finish_turn()
        t0 = time.perf_counter()
        report = build_report(
            state,
            info=box["info"],
            history=session.history,
            usage=session.usage,
            stack="economy",
            ended_at=datetime.now(UTC),
        )
        report["cost"] = cost_of_report(report, load_catalog(), "economy")
        await asyncio.to_thread(box["store"].reports.save, report)
        built = time.perf_counter() - t0
        await asyncio.to_thread(box["store"].close)
        return {
            "report_build_s": round(built, 5),
            "script_problems": list(box["script"].problems),
            "agents_visited": list(state.agents_visited),
        }

    return build, on_done


def bare_replay_builder(lat: Latencies, n_lines: int) -> Any:
    from callcrew.simulate.audio import LineTrackingReplay
    from callcrew.simulate.replay import ReplayScript

    words = len(SAY.split())

    async def build(_tts: FixedTTS) -> tuple[Any, Agent, Any, Any]:
        script = ReplayScript(
            turns=bare_turns(n_lines), ttft_s=lat.ttft_ms / 1000, tokens_per_s=lat.tokens_per_s
        )
        model = LineTrackingReplay(script, list(range(n_lines)))
        agent = Agent(instructions="You are a phone agent. Answer in one short sentence.")
        return model, agent, None, lambda _i: (words, 1)

    return build


def tmpdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="callcrew-bench-")
