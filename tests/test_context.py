"""Bounded context: long calls keep a flat prompt, a summary, and the tool results still needed."""

from __future__ import annotations

from typing import Any

import pytest
from agents.intro import IntroAgent
from livekit.agents import AgentSession, llm

from callcrew.context import SUMMARY_HEADER, ContextPolicy, trim_context
from callcrew.simulate.replay import ReplayLLM, ReplayScript
from callcrew.simulate.scenario import AgentStep

pytestmark = pytest.mark.unit


def conversation(turns: int) -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content="You are the desk.")
    for i in range(turns):
        ctx.add_message(role="user", content=f"caller line {i}")
        if i == 1:
            ctx.insert(llm.FunctionCall(call_id="c1", name="find_free_slots", arguments="{}"))
            ctx.insert(
                llm.FunctionCallOutput(
                    call_id="c1",
                    name="find_free_slots",
                    output="2026-06-16T09:30: Tuesday",
                    is_error=False,
                )
            )
        ctx.add_message(role="assistant", content=f"agent line {i}")
    return ctx


def texts(ctx: llm.ChatContext) -> list[str]:
    return [i.text_content or "" for i in ctx.items if i.type == "message"]


def test_short_calls_are_untouched() -> None:
    ctx = conversation(4)
    assert trim_context(ctx, ContextPolicy(max_turns=6)) is ctx


def test_disabled_policy_returns_the_context_itself() -> None:
    ctx = conversation(30)
    assert trim_context(ctx, ContextPolicy(max_turns=0)) is ctx


def test_long_calls_keep_instructions_summary_recent_turns_and_needed_tool_results() -> None:
    ctx = conversation(30)
    out = trim_context(ctx, ContextPolicy(max_turns=6, summary_chars=400))
    said = texts(out)
    assert said[0] == "You are the desk."
    assert said[1].startswith(SUMMARY_HEADER) and len(said[1]) <= 400 + 40
    assert "agent line 23" in said[1]  # the newest of the old turns are summarized
    assert "(older lines left out)" in said[1]
    assert [t for t in said[2:] if t.startswith("caller")] == [
        f"caller line {i}" for i in range(24, 30)
    ]
    # The slot list from turn 1 is still there: the desk may book one of those ids.
    outputs = [i for i in out.items if i.type == "function_call_output"]
    calls = [i for i in out.items if i.type == "function_call"]
    assert [o.output for o in outputs] == ["2026-06-16T09:30: Tuesday"]
    assert [c.call_id for c in calls] == ["c1"]
    assert len(ctx.items) > len(out.items)  # the session's own history is not changed
    assert len(texts(ctx)) == 61


def test_an_old_tool_result_gives_way_to_a_newer_one_of_the_same_tool() -> None:
    ctx = conversation(30)
    ctx.insert(llm.FunctionCall(call_id="c2", name="find_free_slots", arguments="{}"))
    ctx.insert(
        llm.FunctionCallOutput(call_id="c2", name="find_free_slots", output="newer", is_error=False)
    )
    out = trim_context(ctx, ContextPolicy(max_turns=6))
    assert [i.output for i in out.items if i.type == "function_call_output"] == ["newer"]


async def test_input_tokens_stay_flat_on_a_30_turn_call(make_call: Any) -> None:
    """The measured effect: per-request input tokens stop growing once trimming starts."""

    async def run(max_turns: int) -> list[int]:
        state, _ = await make_call()
        state.context_policy = ContextPolicy(max_turns=max_turns)
        turns: dict[int, list[AgentStep]] = {
            0: [
                AgentStep(
                    tool="hand_off_to_desk",
                    args={"caller_name": "Dana Whitfield", "reason": "questions"},
                ),
                AgentStep(say="Sure, ask away."),
            ],
        }
        for i in range(1, 30):
            turns[i] = [
                AgentStep(
                    say=f"Answer number {i}: we are open until five that day, "
                    "and parking is free after six in the evening."
                )
            ]
        script = ReplayScript(turns=turns)
        async with AgentSession(llm=ReplayLLM(script), userdata=state) as session:
            await session.start(IntroAgent(state))
            for i in range(30):
                script.begin_turn(i)
                await session.run(
                    user_input=f"Question {i}: when do you close, and is there "
                    "parking near the salon?"
                )
        script.finish_turn()
        assert script.problems == []
        return [c.input_tokens for c in script.calls if c.turn >= 1]

    trimmed, full = await run(6), await run(0)
    assert full[-1] > full[8] * 1.5  # untrimmed context keeps growing
    after = trimmed[8:]
    assert max(after) - min(after) <= 0.02 * max(after)  # flat after turn 8
    assert trimmed[-1] < full[-1] * 0.6
