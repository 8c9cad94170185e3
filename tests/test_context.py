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


def test_an_old_tool_result_stays_beside_a_newer_one_so_the_prefix_is_stable() -> None:
    ctx = conversation(30)
    ctx.insert(llm.FunctionCall(call_id="c2", name="find_free_slots", arguments="{}"))
    ctx.insert(
        llm.FunctionCallOutput(call_id="c2", name="find_free_slots", output="newer", is_error=False)
    )
    out = trim_context(ctx, ContextPolicy(max_turns=6))
    outputs = [i.output for i in out.items if i.type == "function_call_output"]
    assert outputs == ["2026-06-16T09:30: Tuesday", "newer"]


def test_old_turns_leave_in_blocks_so_the_prefix_stays_the_same_between_cuts() -> None:
    policy = ContextPolicy(max_turns=6, step=4)
    kept = []
    prefixes = []
    for turns in range(6, 22):
        out = trim_context(conversation(turns), policy)
        said = texts(out)
        kept.append(sum(t.startswith("caller") for t in said))
        prefixes.append(said[:2])
    assert kept[:4] == [6, 7, 8, 9]  # nothing dropped before max_turns + step
    assert kept[4:8] == [6, 7, 8, 9] and kept[8:12] == [6, 7, 8, 9]  # a block leaves at once
    # Within one block (turns 10-13) instructions + summary are byte-identical: cacheable.
    assert prefixes[4] == prefixes[5] == prefixes[6] == prefixes[7]
    assert prefixes[7] != prefixes[8]


async def test_a_30_turn_call_has_bounded_prompts_and_keeps_the_cache(make_call: Any) -> None:
    """The measured effect: input tokens stop growing, and the cached prefix survives trimming
    between cuts, so the bounded call costs no more than keeping everything."""

    async def run(max_turns: int) -> list[tuple[int, int]]:
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
                    say=f"Answer number {i}: we are open until five that day, parking is free "
                    "after six in the evening, and the library car park next door is free on "
                    "Saturdays; card and cash are both fine, and you can always call us back."
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
        return [(c.input_tokens, c.cached_tokens) for c in script.calls if c.turn >= 1]

    trimmed, full = await run(6), await run(0)
    assert full[-1][0] > full[8][0] * 1.5  # untrimmed context keeps growing
    after = [t for t, _ in trimmed[8:]]
    assert max(after) <= min(after) * 1.35  # bounded: a sawtooth of one block of turns
    assert trimmed[-1][0] < full[-1][0] * 0.7

    def llm_usd(calls: list[tuple[int, int]]) -> float:  # GPT-4.1 mini, per million tokens
        return sum((t - c) * 0.40 + c * 0.10 for t, c in calls) / 1e6

    # Between cuts the prefix is cached: only the request right after each cut misses.
    after_first_cut = trimmed[8:]
    hits = sum(1 for _, c in after_first_cut if c > 0)
    assert hits >= 0.7 * len(after_first_cut)
    # Cost stays at parity with keeping everything (cached tokens are cheap); what trimming buys
    # is a bounded prompt, hence bounded latency and context, on long calls.
    assert llm_usd(trimmed) <= llm_usd(full) * 1.10
