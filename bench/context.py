"""Context: LLM input tokens per turn over a 30-turn rehearsed call, trimmed and not.

    .venv/bin/python -m bench context [--quick]

The approach of tests/test_context.py: the real crew (intro hands off to the desk, then 29
questions) in a text-mode AgentSession with the replay LLM, whose token counts are estimates of
what a provider would be sent (4 characters a token; cached prefix in 128-token blocks above
1,024 tokens, OpenAI's rule). Once with the bounded context (CONTEXT_MAX_TURNS 6, the default),
once with everything kept (0).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from bench.common import table, write_result
from bench.crewcall import FROZEN, tmpdir


async def one_call(turns: int, max_turns: int, tmp: Path) -> list[dict[str, int]]:
    from agents.crew import CREW
    from livekit.agents import AgentSession

    from callcrew.call import CallInfo, Channel, CrewContext
    from callcrew.context import ContextPolicy
    from callcrew.profile import load_profile
    from callcrew.settings import Settings
    from callcrew.simulate.replay import ReplayLLM, ReplayScript
    from callcrew.simulate.runner import SimCallControl
    from callcrew.simulate.scenario import AgentStep
    from callcrew.store import open_store

    store = open_store(f"sqlite:///{tmp / f'ctx-{max_turns}.db'}")
    ctx = CrewContext(
        settings=Settings(_env_file=None),  # type: ignore[call-arg]
        profile=load_profile(),
        store=store,
        control=SimCallControl(Channel.INBOUND),
        now=lambda: FROZEN,
    )
    info = CallInfo(channel=Channel.INBOUND, room="bench", caller_number="+15550142233")
    state = await CREW.new_call(info, ctx)
    state.context_policy = ContextPolicy(max_turns=max_turns)
    script_turns: dict[int, list[AgentStep]] = {
        0: [
            AgentStep(
                tool="hand_off_to_desk",
                args={"caller_name": "Dana Whitfield", "reason": "questions"},
            ),
            AgentStep(say="Sure, ask away."),
        ]
    }
    for i in range(1, turns):
        script_turns[i] = [
            AgentStep(
                say=f"Answer number {i}: we are open until five that day, "
                "and parking is free after six in the evening."
            )
        ]
    script = ReplayScript(turns=script_turns)
    try:
        async with AgentSession(llm=ReplayLLM(script), userdata=state) as session:
            await session.start(CREW.first_agent(state))
            for i in range(turns):
                script.begin_turn(i)
                await session.run(
                    user_input=f"Question {i}: when do you close, and is there parking near "
                    "the salon?"
                )
        script.finish_turn()
    finally:
        store.close()
    if script.problems:
        raise RuntimeError("; ".join(script.problems))
    per_turn: dict[int, dict[str, int]] = {}
    for c in script.calls:
        t = per_turn.setdefault(c.turn, {"turn": c.turn + 1, "requests": 0, "input": 0,
                                         "cached": 0, "output": 0, "last_input": 0})  # fmt: skip
        t["requests"] += 1
        t["input"] += c.input_tokens
        t["cached"] += c.cached_tokens
        t["output"] += c.output_tokens
        t["last_input"] = c.input_tokens
    return [per_turn[k] for k in sorted(per_turn)]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    turns = 12 if args.quick else 30
    with tmpdir() as tmp:
        trimmed = await one_call(turns, 6, Path(tmp))
        full = await one_call(turns, 0, Path(tmp))
    show = [1, 2, 4, 6, 8, 10, 12, 16, 20, 25, 30]
    rows = []
    for t, f in zip(trimmed, full, strict=True):
        if t["turn"] in show:
            rows.append([t["turn"], f["last_input"], t["last_input"], t["cached"], f["cached"]])
    after8 = [t["last_input"] for t in trimmed if t["turn"] > 8]
    flat = (max(after8) - min(after8)) / max(after8) if after8 else None
    total_t = sum(t["input"] for t in trimmed)
    total_f = sum(f["input"] for f in full)
    print(
        table(
            [
                "turn",
                "input tokens (all kept)",
                "input tokens (trimmed, 6)",
                "cached (trimmed)",
                "cached (all kept)",
            ],
            rows,
        )
    )
    if flat is not None:
        print(
            f"trimmed, turns 9-{turns}: {min(after8)}-{max(after8)} tokens "
            f"(spread {flat:.1%}); whole call: {total_t} vs {total_f} input tokens "
            f"({1 - total_t / total_f:.0%} fewer)"
        )
    from callcrew.metrics.pricing import llm_cost, load_catalog

    entry = load_catalog().price("openai/gpt-4.1-mini")

    def usd(rows: list[dict[str, int]]) -> float:
        cached = sum(r["cached"] for r in rows)
        return float(
            llm_cost(
                entry,
                cached_input=cached,
                input=sum(r["input"] for r in rows) - cached,
                output=sum(r["output"] for r in rows),
            )
        )

    cost_t, cost_f = usd(trimmed), usd(full)
    print(
        f"LLM cost of the whole call at GPT-4.1 mini rates (cached prefix priced as cached): "
        f"trimmed ${cost_t:.5f}, all kept ${cost_f:.5f}"
    )
    tail = [t["last_input"] for t in trimmed if t["turn"] > 12]
    return {
        "llm_usd_trimmed": round(cost_t, 6),
        "llm_usd_all_kept": round(cost_f, 6),
        "spread_after_turn_12": None if not tail else round((max(tail) - min(tail)) / max(tail), 4),
        "turns": turns,
        "policy": {"max_turns": 6, "summary_chars": 800},
        "trimmed": trimmed,
        "all_kept": full,
        "spread_after_turn_8": None if flat is None else round(flat, 4),
        "total_input_trimmed": total_t,
        "total_input_all_kept": total_f,
        "total_cached_trimmed": sum(t["cached"] for t in trimmed),
        "total_cached_all_kept": sum(f["cached"] for f in full),
    }


def main(args: argparse.Namespace) -> dict[str, Any]:
    result = asyncio.run(run(args))
    print(f"wrote {write_result('context', result, args.out)}")
    return result
