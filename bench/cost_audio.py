"""Cost levers that need audio: the VAD-gated STT input, and the local stack's CPU per call-minute.

    .venv/bin/python -m bench.cost_audio [--scenarios a.yaml b.yaml]

Each scenario is rehearsed with audio (espeak-ng caller, Silero VAD, Whisper tiny.en, Hibari,
replay LLM, real time) twice: as shipped, and with the STT input gated by its own VAD
(`providers/gated_stt.py`, pre-roll 0.5 s, post-roll 0.3 s) in front of LiveKit's StreamAdapter,
the way a streaming STT such as Deepgram would be gated. Per run: WER of the caller's lines,
the caller's true wait (p50/p95 over the turns), the checks' failures and false interruptions
(cut-offs), and, gated, how much of the input audio a streaming provider would be sent.

CPU: process CPU time (`resource.getrusage`, this process only: espeak-ng runs as a child and
is left out) over the call-minutes rehearsed, with the models alone measured the same way so the
total can be split into the worker's share and Whisper's and Hibari's. Kept short on purpose:
the machine is shared. Prints tables and writes JSON to bench/results/; never fails on numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT / "src", ROOT):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from bench.common import quiet_logs, table, write_result  # noqa: E402

DEFAULT_SCENARIOS = [
    "tests/scenarios/new_booking_web.yaml",
    "tests/scenarios/cancel_appointment.yaml",
    "tests/scenarios/book_then_move.yaml",
]


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


async def rehearse(path: str, gate: bool, tmp: Path) -> dict[str, Any]:
    from callcrew.settings import Settings
    from callcrew.simulate.audio import AudioOptions
    from callcrew.simulate.runner import run_scenario
    from callcrew.simulate.scenario import load_scenario

    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp / 'x.db'}")  # type: ignore[call-arg]
    scenario = load_scenario(ROOT / path)
    c0, t0 = cpu_s(), time.perf_counter()
    result = await run_scenario(
        scenario,
        settings,
        audio=AudioOptions(wav=tmp / f"{scenario.label}-{gate}.wav", stt_gate=gate),
    )
    cpu, wall = cpu_s() - c0, time.perf_counter() - t0
    audio = result.report["audio"]
    lines = audio["lines"]
    call_s = float(audio.get("wav_seconds") or result.report.get("duration_s") or wall)
    return {
        "scenario": scenario.label,
        "gate": gate,
        "passed": result.passed,
        "failures": result.failures,
        "wer": audio["wer"],
        "true_wait_s": [ln["true_wait_s"] for ln in lines if ln.get("true_wait_s") is not None],
        "false_interruptions": len(audio.get("false_interruptions") or []),
        "agent_cut_off": sum(1 for ln in lines if ln.get("agent_cut_off")),
        "heard": [ln["heard"] for ln in lines],
        "call_s": call_s,
        "tts_audio_s": float(audio.get("tts_audio_s") or 0.0),
        "stt_audio_s": float(audio.get("stt_audio_s") or 0.0),
        "load_avg_1m": os.getloadavg()[0],
        "cpu_s": round(cpu, 2),
        "cpu_s_per_call_minute": round(cpu / (call_s / 60), 3) if call_s else None,
        "stt_gate": audio.get("stt_gate"),
    }


async def models_alone() -> dict[str, Any]:
    """CPU-seconds per second of audio for Whisper and Hibari, nothing else running here."""
    from livekit import rtc

    from callcrew.providers.local_stt import LocalWhisperSTT
    from callcrew.providers.local_tts import LocalHibariTTS

    stt, tts = LocalWhisperSTT(), LocalHibariTTS()
    await asyncio.to_thread(stt.load)
    await asyncio.to_thread(tts.load)
    lines = [
        "On Wednesday morning I have nine, half past nine or ten. Which would you like?",
        "You're booked for colouring on Wednesday at half past nine.",
        "I've cancelled Saturday's colouring; your haircut on the 26th still stands.",
        "Thanks for calling Maple Street Salon. Have a lovely day. Goodbye!",
    ]
    tts_cpu = tts_audio = stt_cpu = stt_audio = 0.0
    for line in lines:
        c0 = cpu_s()
        frames = []
        async with tts.synthesize(line) as stream:
            async for ev in stream:
                frames.append(ev.frame)
        tts_cpu += cpu_s() - c0
        frame = rtc.combine_audio_frames(frames)
        tts_audio += frame.duration
        c0 = cpu_s()
        await stt.recognize(frame)
        stt_cpu += cpu_s() - c0
        stt_audio += frame.duration
    return {
        "stt_cpu_s_per_audio_s": round(stt_cpu / stt_audio, 4),
        "tts_cpu_s_per_audio_s": round(tts_cpu / tts_audio, 4),
        "audio_s": round(stt_audio, 1),
    }


def summarize(runs: list[dict[str, Any]], gate: bool) -> dict[str, Any]:
    rs = [r for r in runs if r["gate"] == gate]
    waits = [w for r in rs for w in r["true_wait_s"]]
    call_s = sum(r["call_s"] for r in rs)
    out: dict[str, Any] = {
        "passed": f"{sum(r['passed'] for r in rs)}/{len(rs)}",
        "wer_mean": round(statistics.mean(r["wer"] for r in rs if r["wer"] is not None), 3),
        "true_wait_p50_s": pct(waits, 0.5),
        "true_wait_p95_s": pct(waits, 0.95),
        "turns": len(waits),
        "false_interruptions": sum(r["false_interruptions"] for r in rs),
        "agent_cut_off": sum(r["agent_cut_off"] for r in rs),
        "call_s": round(call_s, 1),
        "cpu_s_per_call_minute": round(sum(r["cpu_s"] for r in rs) / (call_s / 60), 3),
    }
    if gate:
        sent = sum(r["stt_gate"]["sent_s"] for r in rs if r["stt_gate"])
        held = sum(r["stt_gate"]["held_s"] for r in rs if r["stt_gate"])
        out["stt_sent_share"] = round(sent / (sent + held), 3) if sent + held else None
        out["stt_sent_s"], out["stt_input_s"] = round(sent, 1), round(sent + held, 1)
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.scenarios:
            for gate in (False, True):
                r = await rehearse(path, gate, Path(tmp))
                runs.append(r)
                print(
                    f"  {r['scenario']} gate={gate}: {'PASS' if r['passed'] else 'FAIL'} "
                    f"WER {r['wer']} waits {r['true_wait_s']} cpu/min {r['cpu_s_per_call_minute']}",
                    flush=True,
                )
    alone = await models_alone()
    off, on = summarize(runs, False), summarize(runs, True)
    keys = [
        "passed", "wer_mean", "true_wait_p50_s", "true_wait_p95_s", "turns", "false_interruptions",
        "agent_cut_off", "call_s", "cpu_s_per_call_minute",
    ]  # fmt: skip
    print(table(["STT input", *keys], [["as shipped", *[off[k] for k in keys]],
                                       ["VAD-gated", *[on[k] for k in keys]]]))  # fmt: skip
    print(f"gated: {on.get('stt_sent_s')} s of {on.get('stt_input_s')} s sent "
          f"({on.get('stt_sent_share')}); models alone: {alone}")  # fmt: skip
    return {"runs": runs, "as_shipped": off, "gated": on, "models_alone": alone}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost_audio")
    parser.add_argument("--scenarios", nargs="+", default=DEFAULT_SCENARIOS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    quiet_logs()
    result = asyncio.run(run(args))
    print(f"wrote {write_result('cost_audio', result, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
