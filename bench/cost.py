"""Cost: every shipped scenario priced per call, and economy per call at the seed's call profile.

    .venv/bin/python -m bench cost [--quick]

1. Each tests/scenarios file is rehearsed in text mode (replay LLM, real crew, tools, store) and
   its report priced by the catalog under economy and premium, the way a text rehearsal is
   (speech minutes estimated from the words, 15 characters a second; tokens as the replay
   estimates them). Fixed phrases (greeting, goodbye, transfer line...) are played from the
   phrase cache in production, so they are priced as cached (no TTS), as `say_phrase` records.
2. The seed's call profile (3 minutes, agent talk share 0.5, 6 LLM turns): the seed's own rules
   (its planner: LiveKit plan + overage, STT on caller minutes, TTS on agent minutes, both SIP
   legs), with what we measured in place of the seed's assumptions where our code changes it:
   LLM tokens per request (averaged over every LLM request of every shipped scenario, x 6), and
   TTS minutes less the cached phrases one call plays (greeting + goodbye, not scaled: a longer
   call does not greet twice). Everything else is the seed's.
3. The levers (issue 20), each priced at that profile from what the rehearsals measured, then
   stacked: STT billed as streamed (every frame, livekit-agents 1.8.9) and VAD-gated (the share
   of the caller's half the gate sends, from `python -m bench.cost_audio`'s latest result),
   self-hosted LiveKit priced by compute (catalog `livekit/self-hosted`), a small model
   (gpt-4.1-nano) for the intro and wrap-up requests, the prompt's static prefix padded to
   OpenAI's 1,024-token caching minimum where that pays, and, reported but not stacked (the
   replay LLM speaks scripted lines, so prompt guidance cannot be measured offline), the agent's
   characters per call and the phrase cache's hit rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import ROOT, table, write_result
from bench.crewcall import tmpdir

SEED_FIXTURE = ROOT / "tests" / "fixtures" / "seed_costs.json"  # the repo's copy of the seed's
SEED_PER_CALL = {"economy": 0.0929, "premium": 0.1500}


def fixed_phrases() -> list[str]:
    from agents.appointments import TRANSFER_PHRASE

    from callcrew.profile import load_profile

    p = load_profile()
    return [p.greeting, p.goodbye, p.still_there, p.silence_goodbye, p.time_limit_goodbye,
            TRANSFER_PHRASE]  # fmt: skip


def stage_of(tools: list[str]) -> str:
    """Which agent made a request, by the tools it offered (intro hands off, wrap-up ends)."""
    if "hand_off_to_desk" in tools:
        return "intro"
    if "more_help" in tools:
        return "wrapup"
    return "task"


def request_row(call: Any) -> dict[str, Any]:
    from callcrew.simulate.replay import CHARS_PER_TOKEN

    # The static part of a request: tool descriptions and the business part of the prompt,
    # everything before the per-call section ("## This call"), the same on every call.
    cut = call.request.find("## This call")
    static = call.request[:cut] if cut >= 0 else ""
    return {
        "stage": stage_of(call.tools_offered),
        "input": call.input_tokens,
        "cached": call.cached_tokens,
        "output": call.output_tokens,
        "static": len(static) // CHARS_PER_TOKEN,
    }


async def rehearse_all(quick: bool) -> list[dict[str, Any]]:
    from callcrew.metrics.call_cost import cost_of_report
    from callcrew.metrics.pricing import load_catalog
    from callcrew.settings import Settings
    from callcrew.simulate.runner import run_scenario
    from callcrew.simulate.scenario import load_scenario

    catalog = load_catalog()
    phrases = fixed_phrases()
    paths = sorted((ROOT / "tests" / "scenarios").glob("*.yaml"))
    if quick:
        paths = paths[:2]
    out = []
    with tmpdir() as tmp:
        settings = Settings(_env_file=None, database_url=f"sqlite:///{Path(tmp) / 'x.db'}")  # type: ignore[call-arg]
        for path in paths:
            scenario = load_scenario(path)
            result = await run_scenario(scenario, settings)
            report = result.report
            agent_lines = [t["text"] for t in report["transcript"] if t["role"] == "agent"]
            cached = [t for t in agent_lines if t in phrases]
            priced: dict[str, Any] = {}
            for cache_on in (False, True):
                r = json.loads(json.dumps(report, default=str))
                r.setdefault("notes", {})["phrase_cache"] = {
                    "cached_texts": cached if cache_on else []
                }
                for stack in ("economy", "premium"):
                    c = cost_of_report(r, catalog, stack, estimate_speech=True)
                    priced[f"{stack}{'_cached' if cache_on else ''}"] = c
            llm_rows = [u for u in report["usage"] if u["kind"] == "llm"]
            agent_chars = sum(len(t) for t in agent_lines)
            out.append(
                {
                    "scenario": path.stem,
                    "passed": result.passed,
                    "channel": report["channel"],
                    "minutes": priced["economy"]["minutes"],
                    "llm_requests": result.replay_calls,
                    "input_tokens": sum(u["input_tokens"] for u in llm_rows),
                    "cached_tokens": sum(u["cached_input_tokens"] for u in llm_rows),
                    "output_tokens": sum(u["output_tokens"] for u in llm_rows),
                    "cached_phrases": cached,
                    "agent_lines": len(agent_lines),
                    "agent_chars": agent_chars,
                    "cached_chars": sum(len(t) for t in cached),
                    "requests": [request_row(c) for c in result.llm_calls],
                    "cost": priced,
                }
            )
    return out


def seed_profile(calls: list[dict[str, Any]]) -> dict[str, Any]:
    from callcrew.metrics.call_cost import SPOKEN_CHARS_PER_SECOND
    from callcrew.metrics.planner import PlanInputs, plan
    from callcrew.metrics.pricing import load_catalog
    from callcrew.profile import load_profile

    seed = json.loads(SEED_FIXTURE.read_text())
    a = seed["assumptions"]
    catalog = load_catalog()
    requests = sum(c["llm_requests"] for c in calls)
    per_req = {
        k: sum(c[f"{k}_tokens"] for c in calls) / requests for k in ("input", "cached", "output")
    }
    turns = a["llm_turns_per_call"]
    seed_plan = plan(PlanInputs(**a), catalog, "economy")
    ours_inputs = PlanInputs(
        **{
            **a,
            "system_prompt_tokens": round(per_req["cached"]),
            "non_cached_input_tokens_per_call": round(
                turns * (per_req["input"] - per_req["cached"])
            ),
            "output_tokens_per_call": round(turns * per_req["output"]),
        }
    )
    ours_plan = plan(ours_inputs, catalog, "economy")
    n = Decimal(seed_plan.calls)
    seed_c = {k: v / n for k, v in seed_plan.components.items()}
    ours_c = {k: v / n for k, v in ours_plan.components.items()}
    p = load_profile()
    cached_s = (len(p.greeting) + len(p.goodbye)) / SPOKEN_CHARS_PER_SECOND
    agent_s = float(a["call_minutes"]) * 60 * float(a["agent_talk_share"])
    tts_rate = catalog.price(catalog.stack("economy").tts).per_minute or Decimal(0)
    ours_c["tts"] = tts_rate * Decimal(str(max(0.0, agent_s - cached_s))) / 60
    seed_total, ours_total = sum(seed_c.values()), sum(ours_c.values())

    # The same call priced the way `callcrew calls` prices a real call (price_call): plans at
    # their overage rate (the monthly base is not any one call's), the inbound SIP leg only.
    from callcrew.metrics.pricing import CallUsage, TokenUsage, price_call

    usage = CallUsage(
        duration_s=float(a["call_minutes"]) * 60,
        stt_audio_s=float(a["call_minutes"]) * 60 - agent_s,
        tts_audio_s=max(0.0, agent_s - cached_s),
        llm={
            "openai/gpt-4.1-mini": TokenUsage(
                input=round(turns * per_req["input"]),
                cached_input=round(turns * per_req["cached"]),
                output=round(turns * per_req["output"]),
            )
        },
    )
    marginal = price_call(usage, catalog, "economy", channel="inbound")

    def f(d: dict[str, Decimal]) -> dict[str, float]:
        return {k: round(float(v), 6) for k, v in d.items()}

    return {
        "method": "seed planner rules; measured LLM tokens per request x 6; TTS minutes less "
        "greeting + goodbye from the phrase cache",
        "llm_requests_measured": requests,
        "tokens_per_request": {k: round(v, 1) for k, v in per_req.items()},
        "cached_phrase_s_per_call": round(cached_s, 2),
        "seed_components_per_call": f(seed_c),
        "ours_components_per_call": f(ours_c),
        "seed_per_call": round(float(seed_total), 6),
        "ours_per_call": round(float(ours_total), 6),
        "saving_vs_seed": round(1 - float(ours_total) / SEED_PER_CALL["economy"], 4),
        "marginal_price_call": {
            "components": marginal.components(),
            "total": marginal.total,
            "saving_vs_seed": round(1 - marginal.total / SEED_PER_CALL["economy"], 4),
        },
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    calls = await rehearse_all(args.quick)
    rows = []
    for c in calls:
        k = c["cost"]
        rows.append(
            [
                c["scenario"], c["channel"], f"{c['minutes']:.2f}", c["llm_requests"],
                f"{k['economy']['total']:.4f}", f"{k['economy_cached']['total']:.4f}",
                f"{k['premium']['total']:.4f}", f"{k['premium_cached']['total']:.4f}",
                f"{k['economy_cached']['total'] / max(c['minutes'], 1e-9):.4f}",
            ]
        )  # fmt: skip
    rows.append(["seed (3-min call)", "inbound", "3.00", 6, "0.0929", "", "0.1500", "", "0.0310"])
    print(
        table(
            [
                "scenario",
                "channel",
                "min",
                "LLM req",
                "economy $",
                "+cache",
                "premium $",
                "+cache",
                "econ $/min",
            ],
            rows,
        )
    )
    prof = seed_profile(calls)
    s, o = prof["seed_components_per_call"], prof["ours_components_per_call"]
    print(
        table(
            ["economy per call at the seed's profile", *s.keys(), "total"],
            [
                [
                    "seed (its assumptions)",
                    *[f"{v:.5f}" for v in s.values()],
                    f"{prof['seed_per_call']:.4f}",
                ],
                [
                    "ours (measured tokens, phrase cache)",
                    *[f"{v:.5f}" for v in o.values()],
                    f"{prof['ours_per_call']:.4f}",
                ],
                [
                    "ours, priced per call (overage, 1 leg)",
                    *[f"{v:.5f}" for v in prof["marginal_price_call"]["components"].values()],
                    f"{prof['marginal_price_call']['total']:.4f}",
                ],
            ],
        )
    )
    print(
        f"saving vs the seed's $0.0929: {prof['saving_vs_seed']:.1%} (same rules); "
        f"{prof['marginal_price_call']['saving_vs_seed']:.1%} priced per call (not like for like)"
    )
    from bench.cost_levers import levers

    lev = levers(calls, prof["ours_components_per_call"])
    comps = ["livekit", "stt", "llm", "tts", "telephony"]
    print(
        table(
            ["economy at the seed's profile, levers stacked", *comps, "total"],
            [[row["step"], *[f"{row[c]:.5f}" for c in comps], f"{row['total']:.4f}"]
             for row in lev["stacked"]],
        )
    )  # fmt: skip
    st, lm, tt = lev["stt"], lev["llm"], lev["tts"]
    print(
        f"STT: seed rule {st['speech_rule']:.5f}, streamed {st['streamed']:.5f}, "
        f"gated {st['gated']:.5f} ({st['gated_seconds']} s; {st['gate_check']})"
    )
    print(
        f"LLM: all mini {lm['all_mini']:.5f}, nano intro+wrap-up {lm['nano_intro_wrapup']:.5f}, "
        f"padded {lm['padded_where_it_pays']:.5f} {lm['padded_stages']}, both {lm['both']:.5f}"
    )
    print(
        f"TTS: {tt['agent_chars_per_call']} agent chars a call "
        f"({tt['agent_chars_per_minute']}/min), {tt['billed_chars_per_call']} billed; "
        f"phrase cache {tt['phrase_cache_hit_rate_chars']:.1%} of characters, "
        f"{tt['phrase_cache_hit_rate_lines']:.1%} of lines; 10 % shorter turns = "
        f"-${tt['usd_per_10pct_shorter_turns_at_seed_profile']:.5f} a call"
    )
    return {"scenarios": calls, "seed_profile": prof, "seed_per_call": SEED_PER_CALL, "levers": lev}


def main(args: argparse.Namespace) -> dict[str, Any]:
    result = asyncio.run(run(args))
    print(f"wrote {write_result('cost', result, args.out)}")
    return result
