"""The cost levers of issue 20, priced at the seed's call profile from what was measured.

Used by `python -m bench cost` (bench/cost.py): `levers(calls, profile)` takes the rehearsed
scenarios (tokens per request by stage, characters spoken, phrases cached) and the seed-profile
components under the seed's rules, and prices each lever, then stacks them. The VAD gate's share
comes from the latest `python -m bench.cost_audio` result in bench/results/ (audio rehearsals are
expensive on a shared machine, so they are run apart and rarely).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import RESULTS

CALL_MIN = Decimal(3)  # the seed's profile
TALK_SHARE = Decimal("0.5")
TURNS = 6
SMALL_MODEL = "openai/gpt-4.1-nano"
SPOKEN_CPS = 15  # characters a second (callcrew.metrics.call_cost)


def latest_gate_result() -> dict[str, Any] | None:
    found = sorted(Path(RESULTS).glob("cost_audio-*.json"))
    if not found:
        return None
    data: dict[str, Any] = json.loads(found[-1].read_text())
    data["file"] = found[-1].name
    return data


def gated_seconds(audio: dict[str, Any] | None) -> tuple[Decimal, dict[str, Any]]:
    """STT seconds a gated input sends at the seed's profile: the caller's half (the seed's own
    STT minutes, taken as all speech) plus, per caller utterance (one per LLM turn), the pre-roll,
    the VAD's hangover (its min silence) and the post-roll. Conservative: the audio rehearsals
    measured the gate sending well under the caller's half (pauses and waits are not sent)."""
    from callcrew.settings import Settings

    s = Settings(_env_file=None)  # type: ignore[call-arg]
    per_utterance = s.stt_gate_pre_roll_s + s.vad_min_silence + s.stt_gate_post_roll_s
    caller_half = CALL_MIN * 60 * (1 - TALK_SHARE)
    seconds = caller_half + Decimal(str(per_utterance)) * TURNS
    check: dict[str, Any] = {"per_utterance_overhead_s": per_utterance}
    if audio:
        runs = [r for r in audio["runs"] if r["gate"] and r.get("stt_gate")]
        sent = sum(r["stt_gate"]["sent_s"] for r in runs)
        fed = sum(r["stt_gate"]["sent_s"] + r["stt_gate"]["held_s"] for r in runs)
        not_agent = sum(r["call_s"] - r.get("tts_audio_s", 0.0) for r in runs)
        check |= {
            "file": audio["file"],
            "measured_sent_s": round(sent, 1),
            "measured_input_s": round(fed, 1),
            "measured_share_of_input": round(sent / fed, 3) if fed else None,
            "measured_share_of_caller_half": round(sent / not_agent, 3) if not_agent else None,
        }
    return seconds, check


def llm_per_call(
    catalog: Any, by_stage: dict[str, dict[str, float]], model_for: dict[str, str], pad: bool
) -> tuple[Decimal, dict[str, bool]]:
    """LLM $ for TURNS requests split by stage as measured; `pad`: the static prefix is padded to
    the model's caching minimum where that is cheaper (it then is cached on every request: the
    prefix is the same on every call, and ten agents in parallel keep the cache warm)."""
    from callcrew.metrics.pricing import llm_cost

    total = Decimal(0)
    padded: dict[str, bool] = {}
    for stage, row in by_stage.items():
        entry = catalog.price(model_for[stage])
        rates = entry.per_million_tokens
        inp, cached, out, static = (
            Decimal(str(row[k])) for k in ("input", "cached", "output", "static")
        )
        cost = llm_cost(entry, cached_input=int(cached), input=int(inp - cached), output=int(out))
        padded[stage] = False
        minimum = Decimal(entry.cache_min_tokens or 0)
        if pad and minimum and static and static < minimum and rates is not None:
            # pad to the minimum: the whole static prefix is then cached, the rest is not
            with_pad = (
                minimum * rates.cached_input + (inp - static) * rates.input + out * rates.output
            ) / Decimal(1_000_000)
            if with_pad < cost:
                cost, padded[stage] = with_pad, True
        total += cost * TURNS * Decimal(str(row["share"]))
    return total, padded


def by_stage(calls: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    rows = [r for c in calls for r in c["requests"]]
    out: dict[str, dict[str, float]] = {}
    for stage in ("intro", "task", "wrapup"):
        mine = [r for r in rows if r["stage"] == stage]
        if not mine:
            continue
        n = len(mine)
        out[stage] = {
            k: sum(r[k] for r in mine) / n for k in ("input", "cached", "output", "static")
        }
        out[stage]["share"] = n / len(rows)
        out[stage]["requests"] = n
    return out


def levers(calls: list[dict[str, Any]], ours: dict[str, float]) -> dict[str, Any]:
    """`ours`: economy per call at the seed profile under the seed's rules, as measured."""
    from callcrew.metrics.pricing import load_catalog

    catalog = load_catalog()
    economy = catalog.stack("economy")
    stt_rate = catalog.price(economy.stt).per_minute or Decimal(0)
    base = {k: Decimal(str(v)) for k, v in ours.items()}

    streamed = stt_rate * CALL_MIN
    audio = latest_gate_result()
    gated_s, gate_check = gated_seconds(audio)
    gated = stt_rate * gated_s / 60

    stages = by_stage(calls)
    mini = dict.fromkeys(stages, economy.llm)
    small = {s: (SMALL_MODEL if s in ("intro", "wrapup") else economy.llm) for s in stages}
    llm_now, _ = llm_per_call(catalog, stages, mini, pad=False)
    llm_small, _ = llm_per_call(catalog, stages, small, pad=False)
    llm_pad, padded = llm_per_call(catalog, stages, mini, pad=True)
    llm_both, _ = llm_per_call(catalog, stages, small, pad=True)

    own = catalog.price("livekit/self-hosted")
    livekit_own = catalog.compute_per_minute(own) * CALL_MIN

    agent_chars = sum(c["agent_chars"] for c in calls)
    cached_chars = sum(c["cached_chars"] for c in calls)
    minutes = sum(c["minutes"] for c in calls)
    tts_rate = catalog.price(economy.tts).per_minute or Decimal(0)
    per_100_chars = tts_rate / 60 / SPOKEN_CPS * 100

    def total(d: dict[str, Decimal]) -> Decimal:
        return sum(d.values(), Decimal(0))

    steps: list[tuple[str, dict[str, Decimal]]] = []
    today = {**base, "stt": streamed}
    steps.append(("ours as billed today: STT fed every frame (streamed)", today))
    steps.append(("+ VAD-gated STT input (STT_VAD_GATE, default on)", {**today, "stt": gated}))
    steps.append(("+ self-hosted LiveKit (compute): the shipped configuration",
                  {**steps[-1][1], "livekit": livekit_own}))  # fmt: skip
    steps.append(("+ nano for intro and wrap-up, prompt padded (priced, not shipped)",
                  {**steps[-1][1], "llm": llm_both}))  # fmt: skip

    def f(d: dict[str, Decimal]) -> dict[str, float]:
        return {k: round(float(v), 6) for k, v in d.items()}

    return {
        "profile": {"call_minutes": 3, "agent_talk_share": 0.5, "llm_turns": TURNS},
        "seed_rules_ours": f(base) | {"total": round(float(total(base)), 6)},
        "stt": {
            "speech_rule": round(float(base["stt"]), 6),
            "streamed": round(float(streamed), 6),
            "gated": round(float(gated), 6),
            "gated_seconds": float(gated_s),
            "gate_check": gate_check,
            "gate_audio": None
            if not audio
            else {"as_shipped": audio["as_shipped"], "gated": audio["gated"]},
        },
        "llm": {
            "by_stage": stages,
            "all_mini": round(float(llm_now), 6),
            "nano_intro_wrapup": round(float(llm_small), 6),
            "padded_where_it_pays": round(float(llm_pad), 6),
            "padded_stages": padded,
            "both": round(float(llm_both), 6),
        },
        "livekit": {
            "cloud_seed_rule": round(float(base["livekit"]), 6),
            "self_hosted": round(float(livekit_own), 6),
            "cpu_s_per_call_minute": float(own.compute.cpu_s_per_call_minute)
            if own.compute
            else None,
            "vcpu_hour_usd": float(catalog.vcpu_hour.usd) if catalog.vcpu_hour else None,
        },
        "tts": {
            "agent_chars_per_call": round(agent_chars / len(calls), 1),
            "agent_chars_per_minute": round(agent_chars / minutes, 1) if minutes else None,
            "billed_chars_per_call": round((agent_chars - cached_chars) / len(calls), 1),
            "phrase_cache_hit_rate_chars": round(cached_chars / agent_chars, 3)
            if agent_chars
            else None,
            "phrase_cache_hit_rate_lines": round(
                sum(len(c["cached_phrases"]) for c in calls)
                / max(1, sum(c["agent_lines"] for c in calls)),
                3,
            ),
            "usd_per_100_chars": round(float(per_100_chars), 6),
            "usd_per_10pct_shorter_turns_at_seed_profile": round(float(base["tts"]) * 0.1, 6),
        },
        "stacked": [
            {"step": name, **f(d), "total": round(float(total(d)), 6)} for name, d in steps
        ],
    }
