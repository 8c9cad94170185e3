"""Benchmark: the local stack's voice loop (Silero VAD + Whisper tiny.en + Hibari heart).

    .venv/bin/python -m bench.local_loop            # the shipped audio scenarios, one at a time
    .venv/bin/python bench/local_loop.py --scenarios tests/scenarios/cancel_appointment.yaml

Plays each scenario through `callcrew simulate --audio` (espeak-ng caller, replay LLM, real
audio pipeline, real time), then measures the models alone. Prints a table and writes JSON to
bench/results/. It reports numbers and never fails on them.

- per-turn latency, p50/p95 over every caller turn of the set: the caller's true wait (true
  end of speech -> first agent frame at the output, and -> first audible agent sound), LiveKit's
  e2e (from the VAD anchor), end-of-turn delay, transcription delay, LLM TTFT (replay: ~0),
  TTS TTFB
- real-time factor (processing time / audio time) of STT and TTS, in the calls and alone
- WER: the caller's synthetic lines in the calls; real human recordings (Debian
  pocketsphinx-testdata, if installed); the agent's own lines through TTS -> STT
- memory: RSS of this process after imports, after the models load, and its peak over a session
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

DEFAULT_SCENARIOS = [
    "tests/scenarios/new_booking_web.yaml",
    "tests/scenarios/cancel_appointment.yaml",
    "tests/scenarios/audio_barge_in.yaml",
    "tests/scenarios/book_then_move.yaml",
]
METRICS = [
    ("true_wait_s", "true wait (to first frame)"),
    ("true_wait_audible_s", "true wait (to audible speech)"),
    ("e2e_latency", "LiveKit e2e (from VAD anchor)"),
    ("end_of_turn_delay", "end-of-turn delay"),
    ("transcription_delay", "transcription delay"),
    ("llm_node_ttft", "LLM TTFT (replay)"),
    ("tts_node_ttfb", "TTS TTFB"),
]
TESTDATA = Path("/usr/share/pocketsphinx/test/data")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def machine() -> dict[str, Any]:
    def run(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return ""

    lscpu = run("lscpu")
    model = next(
        (ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if "Model name" in ln), ""
    )
    return {
        "date": run("date", "-u", "+%Y-%m-%d %H:%M UTC"),
        "nproc": run("nproc"),
        "cpu": model,
        "python": platform.python_version(),
    }


def turn_settings() -> dict[str, Any]:
    """The local stack's turn-taking as this run used it (rehearsals run the call's own
    preemptive generation since round 5)."""
    from callcrew.settings import Settings

    s = Settings(_env_file=None, stack="local")  # type: ignore[call-arg]
    keys = (
        "turn_detection", "vad_min_silence", "endpointing_mode", "endpointing_min_delay",
        "endpointing_max_delay", "turn_words_hold", "min_interruption_words",
        "preemptive_generation", "preemptive_tts",
    )  # fmt: skip
    return {k: getattr(s, k) for k in keys}


async def rehearse(paths: list[str], out: Path) -> list[dict[str, Any]]:
    from callcrew.settings import Settings
    from callcrew.simulate.audio import AudioOptions
    from callcrew.simulate.runner import run_scenario
    from callcrew.simulate.scenario import load_scenario

    # the local stack's settings (its turn-taking defaults: turn_defaults.py TURN_DEFAULTS "batch");
    # turn-taking variables in the environment override them
    db = f"sqlite:///{out / 'x.db'}"
    settings = Settings(_env_file=None, stack="local", database_url=db)  # type: ignore[call-arg]
    reports = []
    for path in paths:
        scenario = load_scenario(ROOT / path)
        t0 = time.perf_counter()
        result = await run_scenario(
            scenario, settings, audio=AudioOptions(wav=out / f"{scenario.label}.wav")
        )
        reports.append(
            {
                "scenario": scenario.label,
                "passed": result.passed,
                "failures": result.failures,
                "wall_s": round(time.perf_counter() - t0, 1),
                "audio": result.report["audio"],
            }
        )
        print(
            f"  {scenario.label}: {'PASS' if result.passed else 'FAIL'} "
            f"in {reports[-1]['wall_s']} s"
        )
    return reports


async def models_alone() -> dict[str, Any]:
    """RTF of each model on its own, and the WER checks that need no call."""
    import numpy as np
    from livekit import rtc

    from callcrew.providers.local_stt import LocalWhisperSTT
    from callcrew.providers.local_tts import LocalHibariTTS
    from callcrew.simulate.audio import pcm_to_16k, speak, word_errors

    stt, tts = LocalWhisperSTT(), LocalHibariTTS()
    agent_lines = [
        "Hello, thanks for calling Maple Street Salon. This is the booking assistant. "
        "How can I help you today?",
        "On Wednesday morning I have nine, half past nine or ten. Which would you like?",
        "You're booked for colouring on Wednesday at half past nine; it takes about an hour "
        "and a half.",
        "I've cancelled Saturday's colouring; your haircut on the 26th still stands. "
        "Anything else?",
        "Sorry to hear that, Elena. That's the hair colouring tomorrow, Saturday, at 10 am. "
        "Shall I cancel it?",
        "Thanks for calling Maple Street Salon. Have a lovely day. Goodbye!",
    ]
    tts_proc = tts_audio = 0.0
    stt_proc = stt_audio = 0.0
    rt_err = rt_words = 0
    first_chunk: list[float] = []
    for line in agent_lines:
        t0 = time.perf_counter()
        frames = []
        async with tts.synthesize(line) as stream:
            async for ev in stream:
                if not frames:
                    first_chunk.append(time.perf_counter() - t0)
                frames.append(ev.frame)
        tts_proc += time.perf_counter() - t0
        frame = rtc.combine_audio_frames(frames)
        tts_audio += frame.duration
        t0 = time.perf_counter()
        heard = (await stt.recognize(frame)).alternatives[0].text
        stt_proc += time.perf_counter() - t0
        stt_audio += frame.duration
        e, n = word_errors(line, heard)
        rt_err, rt_words = rt_err + e, rt_words + n

    real: dict[str, Any] = {"available": TESTDATA.exists()}
    if TESTDATA.exists():
        err = words = 0
        audio_s = proc_s = 0.0
        items = []
        for folder, listing in (("librivox", "transcription"), ("cards", "cards.transcription")):
            for ln in (TESTDATA / folder / listing).read_text().splitlines():
                text, _, ident = ln.rpartition("(")
                text = text.replace("<s>", "").replace("</s>", "").strip()
                items.append((TESTDATA / folder / f"{ident.strip(') ')}.wav", text))
        for path, text in items:
            with wave.open(str(path)) as w:
                pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
                rate = w.getframerate()
            pcm16 = pcm_to_16k(pcm, rate)
            t0 = time.perf_counter()
            heard = (
                (await stt.recognize(rtc.AudioFrame(pcm16.tobytes(), 16000, 1, len(pcm16))))
                .alternatives[0]
                .text
            )
            proc_s += time.perf_counter() - t0
            audio_s += len(pcm16) / 16000
            e, n = word_errors(text, heard)
            err, words = err + e, words + n
        real.update(
            files=len(items),
            words=words,
            wer=round(err / words, 3),
            audio_s=round(audio_s, 1),
            stt_rtf=round(proc_s / audio_s, 3),
        )

    caller = "Hi, I need to cancel my colouring tomorrow, I'm down with a cold."
    pcm = speak(caller)
    t0 = time.perf_counter()
    await stt.recognize(rtc.AudioFrame(pcm.tobytes(), 16000, 1, len(pcm)))
    return {
        "tts_rtf": round(tts_proc / tts_audio, 4),
        "tts_first_chunk_s_p50": round(statistics.median(first_chunk), 3),
        "stt_rtf_on_agent_lines": round(stt_proc / stt_audio, 3),
        "stt_s_for_a_4s_caller_line": round(time.perf_counter() - t0, 3),
        "round_trip_wer": round(rt_err / rt_words, 3),
        "round_trip_words": rt_words,
        "real_recordings": real,
    }


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(a) for a, _ in rows)
    return "\n".join(f"  {a.ljust(width)}  {b}" for a, b in rows)


def ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.0f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="*", default=DEFAULT_SCENARIOS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()

    rss_start = rss_mb()
    from callcrew.providers.local_stt import load_whisper
    from callcrew.providers.local_tts import load_hibari
    from callcrew.providers.session import load_vad
    from callcrew.settings import Settings

    t0 = time.perf_counter()
    load_whisper(2)
    load_hibari("heart")
    load_vad(Settings(_env_file=None))  # type: ignore[call-arg]
    load_s = time.perf_counter() - t0
    rss_models = rss_mb()

    print(f"local loop benchmark: {len(args.scenarios)} scenario(s), real time")
    with tempfile.TemporaryDirectory(prefix="callcrew-bench-") as tmp:
        reports = await rehearse(args.scenarios, Path(tmp))
    rss_after = rss_mb()
    alone = await models_alone()

    values: dict[str, list[float]] = {k: [] for k, _ in METRICS}
    wer_calls = []
    stt_rtf = []
    tts_rtf = []
    barge = []
    for r in reports:
        a = r["audio"]
        wer_calls.append(a["wer"])
        stt_rtf.append(a["stt_rtf"])
        tts_rtf.append(a["tts_rtf"])
        for line in a["lines"]:
            if line["kind"] == "barge_in":
                barge.append(line)
            if line["kind"] == "backchannel":
                continue
            for key, _ in METRICS:
                v = line.get(key)
                if isinstance(v, int | float):
                    values[key].append(float(v))
    summary = {
        key: {"p50": pct(v, 0.5), "p95": pct(v, 0.95), "n": len(v)} for key, v in values.items()
    }
    result = {
        "benchmark": "local_loop",
        "machine": machine(),
        "stack": "Silero VAD + Whisper tiny.en (faster-whisper int8, 2 threads) + Hibari heart; "
        "replay LLM; espeak-ng caller",
        "settings": turn_settings(),
        "latency": summary,
        "wer_caller_lines_per_call": wer_calls,
        "stt_rtf_in_calls": stt_rtf,
        "tts_rtf_in_calls": tts_rtf,
        "barge_in": [
            {k: b.get(k) for k in ("time_to_stop_s", "stop_after_caller_finished_s", "speech_s")}
            for b in barge
        ],
        "models_alone": alone,
        "memory_mb": {
            "after_imports": round(rss_start, 1),
            "models_loaded": round(rss_models, 1),
            "after_sessions": round(rss_after, 1),
            "peak": round(peak_mb(), 1),
        },
        "model_load_s": round(load_s, 2),
        "scenarios": [
            {k: r[k] for k in ("scenario", "passed", "failures", "wall_s")} for r in reports
        ],
    }

    rows = [
        (
            label,
            f"p50 {ms(summary[k]['p50'])}   p95 {ms(summary[k]['p95'])}   (n={summary[k]['n']})",
        )
        for k, label in METRICS
    ]
    rows += [
        (
            "STT RTF (in calls / alone)",
            f"{statistics.median(stt_rtf):.3f} / {alone['stt_rtf_on_agent_lines']:.3f}",
        ),
        (
            "TTS RTF (in calls / alone)",
            f"{statistics.median(tts_rtf):.3f} / {alone['tts_rtf']:.4f}",
        ),
        ("caller-line WER per call", ", ".join(f"{w:.0%}" for w in wer_calls)),
        ("real recordings WER", f"{alone['real_recordings'].get('wer', '-')}"),
        (
            "TTS->STT round trip WER",
            f"{alone['round_trip_wer']:.1%} of {alone['round_trip_words']} words",
        ),
        (
            "barge-in: stop after line ends",
            ", ".join(ms(b["stop_after_caller_finished_s"]) for b in barge) or "-",
        ),
        ("RSS imports / models / peak", f"{rss_start:.0f} / {rss_models:.0f} / {peak_mb():.0f} MB"),
    ]
    print(table(rows))
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = args.out / f"local_loop-{stamp}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    asyncio.run(main())
