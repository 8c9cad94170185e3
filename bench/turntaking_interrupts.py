"""Interruptions: barge-in and backchannels over the agent's speech, per configuration.

    .venv/bin/python -m bench interrupts [--quick] [--configs NAME,NAME...]

Each call: the caller asks for times, the agent reads out a long answer (fixed LLM, a ~7 s
tone from the fixed TTS); `OVER_S` into that answer the caller says one test line over it:
- a **barge-in** ("Sorry, do you have anything on Wednesday morning?"): how long the agent
  keeps talking after the caller starts (first pause or stop of its audio), and whether it
  then answered the new question;
- a **backchannel** ("Mm-hmm.", "Right.", "Okay.", "Yeah."): whether it paused or stopped the
  agent, whether it became a turn (a reply to it), and whether its text leaked into the
  caller's next turn (the next line, "Half past nine, please.", committed as "Mm-hmm. Half
  past nine, please.").
Voices rotate through the corpus's (espeak-ng en-us, en-gb+f3, Hibari). The cloud configs use
the streaming STT fake (interims while the caller speaks); the batch ones the Whisper-like
fake (a transcript only once the VAD ends the segment), the local stack's behaviour.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from typing import Any

from bench.common import (
    CallerLine,
    QuietTimeline,
    TurnConfig,
    chosen_configs,
    loadavg,
    ms,
    pct,
    render,
    table,
    vad_for,
    write_result,
)
from bench.fakes import RATE, FixedLLM, FixedSTT, FixedTTS, Latencies, StreamingSTT
from callcrew.turn_defaults import TURN_DEFAULTS

OVER_S = 1.5  # the caller starts this long after the agent's first audio
LONG_REPLY = (
    "Next week I have Monday at nine, half past nine or ten, Tuesday at nine or eleven, "
    "and Wednesday at ten. Which suits you?"
)
ASK = "Hi, what times do you have next week?"
BARGE = "Sorry, do you have anything on Wednesday morning?"
BACKCHANNELS = ["Mm-hmm.", "Right.", "Okay.", "Yeah."]
NEXT = "Half past nine, please."
VOICES = ["espeak:en-us@150", "espeak:en-gb+f3@165", "hibari:heart"]


@dataclass(frozen=True)
class InterruptConfig:
    label: str
    turns: TurnConfig
    min_words: int
    guard: bool


def _shipped(kind: str) -> TurnConfig:
    """The stack kind's shipped turn values (turn_defaults.py), so interruptions are measured
    with the settings calls run."""
    d = TURN_DEFAULTS[kind]
    return TurnConfig(
        "cloud" if kind == "streaming" else "local",
        d["vad_min_silence"],
        d["endpointing_min_delay"],
        True,
        d["turn_detection"],
        max_delay=d["endpointing_max_delay"],
        stt="streaming" if kind == "streaming" else "batch",
    )


CONFIGS: dict[str, InterruptConfig] = {
    c.label: c
    for c in [
        InterruptConfig("cloud-guard", _shipped("streaming"), 2, True),
        InterruptConfig("cloud-min-words", _shipped("streaming"), 2, False),
        InterruptConfig("cloud-vad", _shipped("streaming"), 0, False),
        InterruptConfig("batch-guard", _shipped("batch"), 2, True),
        InterruptConfig("batch-min-words", _shipped("batch"), 2, False),
        InterruptConfig("batch-vad", _shipped("batch"), 0, False),
    ]
}
QUICK = ["cloud-guard"]


def trials(quick: bool) -> list[list[tuple[str, CallerLine]]]:
    """Per call: (kind, line) pairs; each call alternates barge-ins and backchannels."""
    calls = 1 if quick else 3
    per_call = 2 if quick else 8
    out = []
    for c in range(calls):
        script = []
        for k in range(per_call):
            voice = VOICES[(c + k) % len(VOICES)]
            if k % 2 == 0:
                script.append(("barge_in", CallerLine([BARGE], voice=voice)))
            else:
                bc = BACKCHANNELS[(c * per_call + k) // 2 % len(BACKCHANNELS)]
                script.append(("backchannel", CallerLine([bc], voice=voice)))
        out.append(script)
    return out


async def run_call(
    cfg: InterruptConfig, script: list[tuple[str, CallerLine]], lat: Latencies, delay_s: float
) -> list[dict[str, Any]]:
    from livekit.agents import Agent, AgentSession

    from bench.turns.corpus import desk_list_nouns
    from callcrew.providers.session import attach_backchannel_guard, turn_handling
    from callcrew.simulate.audio import CallerMic, RehearsalSpeaker, Utterance, agent_quiet

    await asyncio.sleep(delay_s)
    timeline = QuietTimeline()
    mic, speaker = CallerMic(timeline), RehearsalSpeaker(timeline)
    current: dict[str, CallerLine | None] = {"line": None}

    def transcript(_at: float) -> str:
        line = current["line"]
        return line.text if line else ""

    def heard(lo: float, hi: float) -> str:
        """Words of the line being said whose end (spread over it by length) is in (lo, hi]."""
        line, utt = current["line"], current.get("utt")
        started = getattr(utt, "started_at", None)
        if line is None or started is None:
            return ""
        dur = len(utt.pcm) / RATE  # type: ignore[union-attr]
        ws = line.text.split()
        total = sum(len(w) + 1 for w in ws)
        out, pos = [], 0
        for w in ws:
            pos += len(w) + 1
            if lo < started + dur * pos / total <= hi:
                out.append(w)
        return " ".join(out)

    stt_model: Any = (
        StreamingSTT(lat, transcript, words_between=heard)
        if cfg.turns.stt == "streaming"
        else FixedSTT(lat, transcript)
    )
    model = FixedLLM(lat, LONG_REPLY)
    settings = cfg.turns.settings().model_copy(update={"min_interruption_words": cfg.min_words})
    session: AgentSession[Any] = AgentSession(
        stt=stt_model,
        llm=model,
        tts=FixedTTS(lat),
        vad=vad_for(cfg.turns.vad_min_silence, cfg.turns.vad_engine),
        turn_handling=turn_handling(settings, list_nouns=desk_list_nouns()),
        aec_warmup_duration=None,
        user_away_timeout=600.0,
    )
    session.input.audio, session.output.audio = mic, speaker
    if cfg.guard:
        attach_backchannel_guard(session, cfg.min_words)
    users: list[tuple[float, str]] = []
    session.on(
        "conversation_item_added",
        lambda ev: (
            users.append((time.time(), ev.item.text_content or ""))
            if getattr(ev.item, "role", "") == "user"
            else None
        ),
    )

    async def until(pred: Any, timeout: float) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred():
                return True
            await asyncio.sleep(0.02)
        return False

    async def say(line: CallerLine) -> Utterance:
        pcm, _ = await asyncio.to_thread(render, line)
        utt = Utterance(0, line.text, pcm)
        current["line"] = line
        current["utt"] = utt  # type: ignore[assignment]
        mic.say(utt)
        await utt.done.wait()
        return utt

    async def settle() -> None:
        quiet: float | None = None
        deadline = time.time() + 25
        while time.time() < deadline:
            if agent_quiet(session, speaker):
                quiet = quiet or time.time()
                if time.time() - quiet > 0.8:
                    return
            else:
                quiet = None
            await asyncio.sleep(0.02)

    rows: list[dict[str, Any]] = []
    async with session:
        timeline.start()
        speaker.start()
        await session.start(Agent(instructions="You are a phone agent."))
        for kind, line in script:
            await asyncio.sleep(0.5)
            n_seg = len(speaker.segments)
            ask_at = time.time()
            await say(CallerLine([ASK], voice=line.voice))
            if not await until(lambda n=n_seg: len(speaker.segments) > n, 10):
                rows.append({"kind": kind, "error": "no answer to the question"})
                await settle()
                continue
            seg = speaker.segments[n_seg]
            await until(lambda s=seg: time.time() >= s.started_at + OVER_S, 10)
            n_users, n_llm = len(users), len(model.requests)
            utt = await say(line)
            start = utt.started_at or time.time()
            await settle()
            stops = [t for t in speaker.pauses + speaker.clears if t >= start]
            stop = min(stops) if stops else None
            agent_ended = seg.ended_at
            talked_on = (
                (stop - start) if stop is not None else ((agent_ended or time.time()) - start)
            )
            new_users = [u for t, u in users[n_users:] if t >= start - 0.05]
            row: dict[str, Any] = {
                "kind": kind,
                "voice": line.voice,
                "line": line.text,
                "agent_stopped": stop is not None,
                "agent_talked_on_s": round(talked_on, 4),
                "agent_cut_off": bool(seg.interrupted),
                "resumed": any(t >= start for t in speaker.resumes),
                "became_turn": bool(new_users),
                "replies": len(model.requests) - n_llm,
                "wait_s": round(time.time() - ask_at, 2),
            }
            if kind == "backchannel":
                n2 = len(users)
                await asyncio.sleep(0.4)
                await say(CallerLine([NEXT], voice=line.voice))
                await settle()
                nxt = [u for _, u in users[n2:]]
                row["next_turn"] = nxt[0] if nxt else None
                word = line.text.lower().strip(".").split("-")[0]
                row["leaked_into_next"] = bool(nxt) and nxt[0].lower().startswith(word)
            rows.append(row)
    await speaker.aclose()
    return rows


def score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    barge = [r for r in rows if r.get("kind") == "barge_in" and "error" not in r]
    bcs = [r for r in rows if r.get("kind") == "backchannel" and "error" not in r]
    stops = [r["agent_talked_on_s"] for r in barge if r["agent_stopped"]]
    return {
        "barge_in": len(barge),
        "barge_in_stopped": sum(r["agent_stopped"] for r in barge),
        "barge_in_talked_on_p50": pct(stops, 0.5),
        "barge_in_talked_on_p95": pct(stops, 0.95),
        "barge_in_answered": sum(r["became_turn"] for r in barge),
        "backchannels": len(bcs),
        "backchannel_paused_or_stopped_agent": sum(r["agent_stopped"] for r in bcs),
        "backchannel_cut_agent_off": sum(r["agent_cut_off"] for r in bcs),
        "backchannel_became_turn": sum(r["became_turn"] for r in bcs),
        "backchannel_leaked_into_next_turn": sum(bool(r.get("leaked_into_next")) for r in bcs),
        "errors": [r["error"] for r in rows if "error" in r],
    }


HEADS = [
    "config", "barge-ins stopped", "talked on p50/p95 ms", "barge-in answered",
    "backchannel paused/stopped agent", "cut agent off", "became a turn", "leaked into next",
]  # fmt: skip


def row(name: str, s: dict[str, Any]) -> list[Any]:
    n, b = s["barge_in"], s["backchannels"]
    return [
        name,
        f"{s['barge_in_stopped']}/{n}",
        f"{ms(s['barge_in_talked_on_p50'])}/{ms(s['barge_in_talked_on_p95'])}",
        f"{s['barge_in_answered']}/{n}",
        f"{s['backchannel_paused_or_stopped_agent']}/{b}",
        f"{s['backchannel_cut_agent_off']}/{b}",
        f"{s['backchannel_became_turn']}/{b}",
        f"{s['backchannel_leaked_into_next_turn']}/{b}",
    ]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    lat = Latencies()
    names = chosen_configs(args, CONFIGS, QUICK)
    load_before = loadavg()
    scripts = trials(args.quick)
    lines = {ln.text + ln.voice: ln for s in scripts for _, ln in s}
    extra = [CallerLine([t], voice=v) for t in (ASK, NEXT) for v in VOICES]
    await asyncio.gather(*(asyncio.to_thread(render, ln) for ln in [*lines.values(), *extra]))
    results: dict[str, Any] = {}
    for name in names:
        cfg = CONFIGS[name]
        calls = await asyncio.gather(
            *(run_call(cfg, s, lat, k * 1.1) for k, s in enumerate(scripts))
        )
        rows = [r for c in calls for r in c]
        results[name] = {
            "config": {
                **cfg.turns.as_dict(),
                "min_interruption_words": cfg.min_words,
                "backchannel_guard": cfg.guard,
            },
            **score(rows),
            "rows": rows,
        }
        print(f"  {name}: done", flush=True)
    print(table(HEADS, [row(n, r) for n, r in results.items()]))
    return {
        "over_s": OVER_S,
        "load_before": load_before,
        "load_after": loadavg(),
        "results": results,
    }


def main(args: argparse.Namespace) -> dict[str, Any]:
    result = asyncio.run(run(args))
    print(f"load average before {result['load_before']}, after {result['load_after']}")
    path = write_result("turntaking_interrupts", result, args.out)
    print(f"wrote {path}")
    return result
