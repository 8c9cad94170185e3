"""Greeting: session start -> the greeting's first audio frame at the output.

    .venv/bin/python -m bench greeting [--quick]

The crew's IntroAgent says the business greeting with `say_phrase`: from the phrase cache
(warmed: the WAV is on disk) or, without a cache, through the TTS (the fixed TTS, TTFB Z).
Each sample is a fresh AgentSession with the real Silero VAD, the fixed STT/LLM/TTS, the
rehearsal's real-time mic and speaker; the clock starts just before `session.start()`.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    QuietTimeline,
    TurnConfig,
    ms,
    summary,
    table,
    turn_handling_for,
    vad_for,
    write_result,
)
from bench.crewcall import FROZEN, tmpdir
from bench.fakes import FixedSTT, FixedTTS, Latencies


async def one(lat: Latencies, cache: Any, tmp: Path, cfg: TurnConfig) -> dict[str, Any]:
    from agents.crew import CREW
    from livekit.agents import AgentSession

    from callcrew.call import CallInfo, Channel, CrewContext
    from callcrew.profile import load_profile
    from callcrew.settings import Settings
    from callcrew.simulate.audio import CallerMic, RehearsalSpeaker
    from callcrew.simulate.runner import SimCallControl
    from callcrew.store import open_store

    store = open_store(f"sqlite:///{tmp / f'greet-{time.time_ns()}.db'}")
    ctx = CrewContext(
        settings=Settings(_env_file=None),  # type: ignore[call-arg]
        profile=load_profile(),
        store=store,
        control=SimCallControl(Channel.INBOUND),
        now=lambda: FROZEN,
        phrases=cache,
    )
    info = CallInfo(channel=Channel.INBOUND, room="bench", caller_number="+15550100999")
    state = await CREW.new_call(info, ctx)
    from bench.fakes import FixedLLM

    timeline = QuietTimeline()
    mic, speaker = CallerMic(timeline), RehearsalSpeaker(timeline)
    tts_model = FixedTTS(lat)
    session: AgentSession[Any] = AgentSession(
        stt=FixedSTT(lat, lambda _t: ""),
        llm=FixedLLM(lat, "Okay."),
        tts=tts_model,
        vad=vad_for(cfg.vad_min_silence),
        turn_handling=turn_handling_for(cfg),
        aec_warmup_duration=None,
        userdata=state,
    )
    session.input.audio, session.output.audio = mic, speaker
    first: float | None = None
    try:
        async with session:
            timeline.start()
            speaker.start()
            t0 = time.time()
            await session.start(CREW.first_agent(state))
            started = time.time()
            deadline = time.time() + 10
            while first is None and time.time() < deadline:
                if speaker.segments:
                    first = speaker.segments[0].started_at
                await asyncio.sleep(0.001)
            session.interrupt()
    finally:
        await speaker.aclose()
        store.close()
    return {
        "first_frame_s": None if first is None else first - t0,
        "start_returned_s": started - t0,
        "tts_requests": len(tts_model.requests),
        "cache_hits": state.phrase_stats.hits,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from callcrew.profile import load_profile
    from callcrew.providers.phrases import PhraseCache

    lat = Latencies()
    n = 2 if args.quick else 20
    cfg = TurnConfig("greeting", 0.55, 0.5)
    greeting = load_profile().greeting
    out: dict[str, Any] = {"latencies": lat.as_dict(), "n": n, "greeting": greeting}
    rows = []
    with tmpdir() as tmp_s:
        tmp = Path(tmp_s)
        cache = PhraseCache(tmp / "phrases")
        t0 = time.perf_counter()
        await cache.warm(FixedTTS(lat, realtime=False), [greeting])
        out["warm_s"] = round(time.perf_counter() - t0, 3)
        for name, c in (("phrase cache (warmed)", cache), ("no cache: TTS, Z = 150 ms", None)):
            samples = [await one(lat, c, tmp, cfg) for _ in range(n)]
            firsts = [s["first_frame_s"] for s in samples if s["first_frame_s"] is not None]
            out[name] = {
                "first_frame_s": summary(firsts),
                "start_returned_s": summary([s["start_returned_s"] for s in samples]),
                "tts_requests": sum(s["tts_requests"] for s in samples),
                "cache_hits": sum(s["cache_hits"] for s in samples),
                "missing": sum(1 for s in samples if s["first_frame_s"] is None),
            }
            f = out[name]["first_frame_s"]
            rows.append(
                [name, f["n"], ms(f["p50"]), ms(f["p95"]), ms(f["max"]),
                 out[name]["tts_requests"], out[name]["cache_hits"]]
            )  # fmt: skip
    out["measured_at"] = datetime.now(UTC).isoformat()
    print(
        table(
            [
                "session start -> first greeting frame",
                "n",
                "p50 ms",
                "p95 ms",
                "max ms",
                "TTS requests",
                "cache hits",
            ],
            rows,
        )
    )
    return out


def main(args: argparse.Namespace) -> dict[str, Any]:
    result = asyncio.run(run(args))
    print(f"wrote {write_result('greeting', result, args.out)}")
    return result
