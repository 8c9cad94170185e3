"""`simulate --caller-llm`: an LLM plays the caller from the scenario's `instructions`.

The crew runs exactly as in a scripted rehearsal (text-mode AgentSession, real tools, real
store, frozen clock); only the caller's lines come from a side LLM instead of `turns`. The
crew's model is the configured LLM, or the replay model when the scenario scripts one.

The call ends when, first of: the crew hangs up or transfers; the caller LLM calls its
`end_call` tool (or writes the END_MARKER); the caller has spoken `max_turns` lines, which
fails the scenario (a call that does not converge is a finding, not a pass).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from livekit.agents import AgentSession, function_tool, llm
from livekit.agents.voice.run_result import RunResult

from callcrew.call import CallState
from callcrew.metrics.side_llm import SideLLM, add_side_usage
from callcrew.profile import BusinessProfile
from callcrew.settings import Settings
from callcrew.simulate.conclusion import Conclusion, Played, conclude, open_call
from callcrew.simulate.replay import ReplayLLM, ReplayScript
from callcrew.simulate.runner import SimResult, TurnLog, event_dict, opening_events
from callcrew.simulate.scenario import Scenario
from callcrew.simulate.textcall import settle
from callcrew.store import Store

END_MARKER = "[END]"
END_TOOL = "end_call"
# A caller line longer than this is the LLM rambling or leaking its prompt; keep it phone-sized.
MAX_LINE_CHARS = 400

CALLER_PROMPT = """\
You are role-playing a person who phones {business}. You are the CALLER, never the \
receptionist. Stay in character the whole call.

Who you are and what you want:
{instructions}

How to speak:
- One short spoken line per reply (one or two sentences), as people talk on the phone.
- No stage directions, no lists, no markdown, no quotes around your words.
- Answer what the receptionist asks using your persona's details; do not invent new goals.
- When your goals are done, or you give up, or the receptionist says goodbye: say a short \
goodbye and call the tool {end_tool} in the same reply (if you cannot call tools, end your \
line with {end_marker})."""


@function_tool
async def end_call(reason: str) -> None:
    """Hang up the phone: your goals are done, you gave up, or the receptionist said goodbye.

    Args:
        reason: Why you are hanging up, in a few words.
    """


@dataclass
class CallerLine:
    text: str
    hangs_up: bool
    reason: str = ""


class CallerLLM:
    """The caller side of one rehearsal: its own chat history, seen from the caller's seat."""

    def __init__(self, settings: Settings, *, max_turns: int | None = None) -> None:
        self.side = SideLLM(settings, "caller", timeout_s=60.0)
        self.max_turns = max_turns or settings.caller_max_turns

    def begin(self, scenario: Scenario, profile: BusinessProfile) -> None:
        self.ctx = llm.ChatContext()
        self.ctx.add_message(
            role="system",
            content=CALLER_PROMPT.format(
                business=profile.name,
                instructions=(scenario.instructions or "").strip(),
                end_tool=END_TOOL,
                end_marker=END_MARKER,
            ),
        )

    async def reply_to(self, desk_said: str) -> CallerLine:
        # The desk is the "user" of the caller's model; the caller's own lines are its replies.
        self.ctx.add_message(role="user", content=desk_said or "(the line is quiet)")
        reply = await self.side.ask(self.ctx, tools=[end_call])
        text = reply.text
        hangs_up = False
        reason = ""
        for call in reply.tool_calls:
            if call.name == END_TOOL:
                hangs_up = True
                reason = _reason(call.arguments)
        if END_MARKER in text:
            hangs_up = True
            text = text.replace(END_MARKER, "")
        text = " ".join(text.split())[:MAX_LINE_CHARS]
        if text:
            self.ctx.add_message(role="assistant", content=text)
        return CallerLine(text, hangs_up, reason)


def _reason(arguments: str) -> str:
    import json

    try:
        value = json.loads(arguments or "{}").get("reason", "")
    except (ValueError, AttributeError):
        return ""
    return str(value)[:200]


def _said(log: TurnLog) -> str:
    return " ".join(e["text"] for e in log.events if e["type"] == "say" and e["text"]).strip()


async def play_caller(
    scenario: Scenario,
    settings: Settings,
    profile: BusinessProfile,
    store: Store,
    now: Callable[[], datetime],
    live_llm: llm.LLM[Any] | None,
    caller: CallerLLM,
    on_turn: Callable[[TurnLog], None] | None,
    started: float,
) -> SimResult:
    call = await open_call(scenario, settings, profile, store, now)
    control, state = call.control, call.state
    scripted = any(t.agent for t in scenario.turns) or bool(scenario.opening)
    script = ReplayScript(
        turns={-1: scenario.opening} | {i: t.agent for i, t in enumerate(scenario.turns)},
        ttft_s=scenario.replay.get("ttft_ms", 0.0) / 1000,
        tokens_per_s=scenario.replay.get("tokens_per_s", 0.0),
    )
    if live_llm is None and not scripted:
        raise ValueError(
            "no replay script for the crew: --caller-llm needs the crew's own LLM too "
            "(LLM_BASE_URL or OPENAI_API_KEY; it is used automatically)"
        )
    model: llm.LLM[Any] = live_llm if live_llm is not None else ReplayLLM(script)
    caller.begin(scenario, profile)
    session: AgentSession[CallState] = AgentSession(llm=model, userdata=state)
    turn_logs: list[TurnLog] = []
    problems: list[str] = []
    opening = TurnLog(-1, "", 0.0)
    ended = "turn limit"
    error: str | None = None
    final: str | None = None
    try:
        async with session:
            await session.start(call.crew.first_agent(state))
            await settle(session)  # the greeting (and any welcome-back line) first
            opening.events = opening_events(session.history)
            if on_turn:
                on_turn(opening)
            desk_said = _said(opening)
            for i in range(caller.max_turns):
                if control.hung_up or control.transferred_to:
                    ended = "the crew hung up" if control.hung_up else "the crew transferred"
                    break
                line = await caller.reply_to(desk_said)
                if line.text:
                    if isinstance(model, ReplayLLM):
                        script.begin_turn(i)
                    t0 = time.perf_counter()
                    run: RunResult[Any] = await session.run(user_input=line.text)
                    log = TurnLog(i, line.text, time.perf_counter() - t0)
                    log.events = [d for ev in run.events if (d := event_dict(ev)) is not None]
                    turn_logs.append(log)
                    if on_turn:
                        on_turn(log)
                    desk_said = _said(log)
                if line.hangs_up:
                    ended = "the caller hung up" + (f" ({line.reason})" if line.reason else "")
                    break
            else:
                if control.hung_up or control.transferred_to:
                    ended = "the crew hung up" if control.hung_up else "the crew transferred"
            if isinstance(model, ReplayLLM):
                script.finish_turn()
                problems += script.problems
            final = session.current_agent.id
            history, usage = session.history.copy(), session.usage
    except Exception as exc:  # the report is written whatever happened
        error = f"{type(exc).__name__}: {exc}"
        history, usage = session.history.copy(), session.usage
    finally:
        await caller.side.aclose()
    if ended == "turn limit" and error is None:
        problems.append(
            f"the call had not ended after {caller.max_turns} caller lines (CALLER_MAX_TURNS)"
        )
    replayed = isinstance(model, ReplayLLM)
    result = await conclude(
        scenario,
        settings,
        Conclusion(
            call=call,
            played=Played(history, usage, final, error, opening, turn_logs),
            clock=now(),
            stack=f"{settings.stack}+replay" if replayed else settings.stack,
            problems=problems,
            started=started,
            replay_calls=len(script.calls),
            cost_stack=settings.stack,
            estimate_speech=True,
            rehearsal={
                "caller_llm": {
                    "model": caller.side.usage.model,
                    "ended": ended,
                    "caller_lines": len(turn_logs),
                    "max_turns": caller.max_turns,
                }
            },
        ),
    )
    add_side_usage(result.report, caller.side.usage, settings)
    return result
