"""One text rehearsal, step by step: open the call, play caller lines, conclude.

Stepwise so that several calls can share one store and play their lines in lockstep (a race
for the last slot, `group.py`); a single scenario just plays every line in order. Whatever
fails, `finish` still writes the report.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from livekit.agents import AgentSession, llm
from livekit.agents.voice.run_result import RunResult

from callcrew.call import CallState
from callcrew.metrics.agent_usage import track_agent_usage
from callcrew.profile import BusinessProfile
from callcrew.providers.recovery import ProviderRecovery, crew_failure_plan
from callcrew.settings import Settings
from callcrew.simulate.checks import check_turn
from callcrew.simulate.conclusion import Conclusion, Played, conclude, open_call
from callcrew.simulate.replay import ReplayLLM, ReplayScript
from callcrew.simulate.runner import SimResult, TurnLog, event_dict, opening_events
from callcrew.simulate.scenario import Scenario
from callcrew.store import Store

# Bounds the wait for the crew's opening speech; a text session plays instantly.
_SETTLE_ROUNDS = 200


async def settle(session: AgentSession[Any]) -> None:
    """Wait until the agent has said everything it queued on entering (greeting, then the
    welcome-back line): a text rehearsal must show the caller's first line after them, as a
    caller hears it on the phone."""
    activity = getattr(session, "_activity", None)
    on_enter = getattr(activity, "_on_enter_task", None)
    if isinstance(on_enter, asyncio.Future):
        await asyncio.wait([on_enter])
    for _ in range(_SETTLE_ROUNDS):
        speech = session.current_speech
        if speech is not None and not speech.done():
            await speech.wait_for_playout()
            continue
        if not getattr(activity, "_speech_q", None):
            return
        await asyncio.sleep(0.005)


class TextCall:
    def __init__(
        self,
        scenario: Scenario,
        settings: Settings,
        profile: BusinessProfile,
        store: Store,
        now: Callable[[], datetime],
        *,
        live_llm: llm.LLM[Any] | None = None,
        on_turn: Callable[[TurnLog], None] | None = None,
    ) -> None:
        self.scenario, self.settings, self.profile, self.store = scenario, settings, profile, store
        self.now, self.live_llm, self.on_turn = now, live_llm, on_turn
        self.started = time.perf_counter()
        self.script = ReplayScript(
            turns={-1: scenario.opening} | {i: t.agent for i, t in enumerate(scenario.turns)},
            ttft_s=scenario.replay.get("ttft_ms", 0.0) / 1000,
            tokens_per_s=scenario.replay.get("tokens_per_s", 0.0),
        )
        self.opening = TurnLog(-1, "", 0.0, call=self._call_tag())
        self.turn_logs: list[TurnLog] = []
        self.failures: list[str] = []
        self.error: str | None = None
        self.ended = False
        self.recovery: ProviderRecovery | None = None

    def _call_tag(self) -> str | None:
        i = self.scenario.call_index
        return None if i is None else f"call {i + 1}"

    async def start(self) -> None:
        call = self.call = await open_call(
            self.scenario, self.settings, self.profile, self.store, self.now
        )
        model: llm.LLM[Any] = self.live_llm or ReplayLLM(self.script)
        self.session: AgentSession[CallState] = AgentSession(llm=model, userdata=call.state)
        track_agent_usage(self.session)  # the report's usage per agent (metrics/agent_usage.py)
        if self.live_llm is not None:
            # A live model gets the call's recovery: filler, provider log, apology and ending.
            self.recovery = ProviderRecovery(call.state, plan=crew_failure_plan(call.crew))
            self.recovery.attach(self.session, [])
        try:
            await self.session.start(call.crew.first_agent(call.state))
            await settle(self.session)
            self.opening.events = opening_events(self.session.history)
            if self.on_turn:
                self.on_turn(self.opening)
        except Exception as exc:  # the report is written whatever happened
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        self.error = f"{type(exc).__name__}: {exc}"
        self.ended = True

    async def play(self, i: int) -> None:
        """Caller line `i` and the crew's answer; nothing once the call has ended."""
        if self.ended or i >= len(self.scenario.turns):
            return
        turn = self.scenario.turns[i]
        if self.call.control.hung_up or self.call.control.transferred_to:
            self.failures.append(
                f"caller line {i + 1} ({turn.caller!r}) was never heard: the call had already ended"
            )
            self.ended = True
            return
        if turn.backchannel:
            return  # an "mm-hmm" over the agent's speech only exists in audio
        self.script.begin_turn(i)
        t0 = time.perf_counter()
        try:
            result: RunResult[Any] = await self.session.run(user_input=turn.caller)
            if self.recovery is not None:
                await self.recovery.settle()  # the apology and the ending, if under way
        except Exception as exc:
            self._failed(exc)
            return
        log = TurnLog(i, turn.caller, time.perf_counter() - t0, call=self._call_tag())
        log.events = [d for ev in result.events if (d := event_dict(ev)) is not None]
        self.turn_logs.append(log)
        if turn.expect is not None:
            call = self.call
            self.failures += await asyncio.to_thread(
                check_turn, turn.expect, log, call.state, self.store, self.profile, call.crew
            )
        if self.on_turn:
            self.on_turn(log)

    async def finish(self) -> SimResult:
        self.script.finish_turn()
        session = self.session
        final = None
        if self.error is None:
            agent = session.current_agent
            final = agent.id  # LiveKit's agent id: the same name the report and stats use
        history, usage = session.history.copy(), session.usage
        try:
            await session.aclose()
        except Exception as exc:
            self.error = self.error or f"{type(exc).__name__}: {exc}"
        problems = self.failures + ([] if self.live_llm is not None else self.script.problems)
        stack = self.settings.stack
        return await conclude(
            self.scenario,
            self.settings,
            Conclusion(
                call=self.call,
                played=Played(history, usage, final, self.error, self.opening, self.turn_logs),
                clock=self.now(),
                stack=f"{stack}+replay" if self.live_llm is None else stack,
                problems=problems,
                started=self.started,
                replay_calls=len(self.script.calls),
                llm_calls=self.script.calls,
                # A text rehearsal has no audio: its speech minutes are estimated from words.
                cost_stack=stack,
                estimate_speech=True,
                providers=self.recovery.log.report() if self.recovery is not None else None,
            ),
        )


async def play_text(call: TextCall) -> SimResult:
    await call.start()
    for i in range(len(call.scenario.turns)):
        await call.play(i)
    return await call.finish()
