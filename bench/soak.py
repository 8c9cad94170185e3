"""Soak: many rehearsed calls through one long-lived process; RSS and open fds over time.

    .venv/bin/python -m bench soak [--quick]
    .venv/bin/python -m bench.soak --text 200 --audio-calls 200 --audio-minutes 90

A worker process lives for days and takes call after call, so what matters is the growth per
call after warm-up, not the footprint of one. This runs the shipped text scenarios round-robin
(`--text` calls, replay LLM, each with its own throwaway store, as `callcrew simulate` does),
then audio rehearsals on the local stack (Silero + Whisper + Hibari, espeak-ng caller, real
time), all in this one process, and samples RSS, open file descriptors and the load average
after every call (no forced garbage collection, as in a worker; `--collect` forces one after
each call, for comparison). Growth per call is the least-squares slope of RSS over the calls
after the first `--warmup` of each kind. It reports numbers and never fails on them.

The audio calls are short so that hundreds fit in a run: by default `bench/data/soak_call.yaml`
(the greeting, two caller lines, the wrap-up and the hang-up), the caller's espeak-ng clips
synthesized once per process and reused (as `simulate --audio` does), a 0.3 s pause before each
line. Everything of ours runs as in a rehearsal: a fresh session, STT, TTS and store per call,
the real VAD, Whisper and Hibari on every line, in real time. `--audio-scenarios` picks
others (the full `new_booking_web`/`cancel_appointment` calls take ~56 s each).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench.common import quiet_logs, rss_mb, table, write_result  # noqa: E402

SCENARIOS = ROOT / "tests" / "scenarios"
AUDIO_SCENARIOS = [ROOT / "bench" / "data" / "soak_call.yaml"]
FULL_AUDIO_SCENARIOS = [SCENARIOS / "new_booking_web.yaml", SCENARIOS / "cancel_appointment.yaml"]
AUDIO_PAUSE_S = 0.3  # the caller's pause before a line (a rehearsal's default is 0.8)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def loadavg() -> float:
    return os.getloadavg()[0]


def slope(points: list[tuple[int, float]]) -> float | None:
    """Least-squares growth per call (MB/call) over (call number, RSS) points."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else None


def _is_call(path: Path) -> bool:
    """A scenario (the folder also holds the business profiles some scenarios name)."""
    from callcrew.simulate.scenario import ScenarioError, load_scenario

    try:
        load_scenario(path)
    except ScenarioError:
        return False
    return True


async def _one(path: Path, settings: Any, audio: bool, tmp: Path) -> str:
    from callcrew.simulate.runner import run_scenario
    from callcrew.simulate.scenario import load_scenario

    scenario = load_scenario(path)
    options = None
    if audio:
        from callcrew.simulate.audio import AudioOptions

        options = AudioOptions(wav=tmp / "soak.wav", pause_s=AUDIO_PAUSE_S)
    result = await run_scenario(scenario, settings, audio=options)
    return str(result.report.get("outcome"))


async def soak(
    text_calls: int,
    audio_minutes: float,
    warmup: int,
    max_audio: int,
    collect: bool = False,
    audio_files: list[Path] | None = None,
) -> dict[str, Any]:
    from callcrew.settings import Settings

    settings = Settings(stack="local", phrase_cache_dir=None)
    text_files = [
        p
        for p in sorted(SCENARIOS.glob("*.yaml"))
        if not p.name.startswith("audio_") and _is_call(p)
    ]
    samples: list[dict[str, Any]] = []
    start = time.monotonic()
    base = {"rss_mb": round(rss_mb(), 1), "fds": open_fds()}
    with tempfile.TemporaryDirectory(prefix="callcrew-soak-") as tmp_s:
        tmp = Path(tmp_s)
        for kind, budget in (("text", text_calls), ("audio", max_audio)):
            deadline = time.monotonic() + audio_minutes * 60
            files = text_files if kind == "text" else (audio_files or AUDIO_SCENARIOS)
            for i in range(budget):
                if kind == "audio" and (audio_minutes <= 0 or time.monotonic() > deadline):
                    break
                path = files[i % len(files)]
                t0 = time.monotonic()
                outcome = await _one(path, settings, kind == "audio", tmp)
                if collect:
                    gc.collect()
                row = {
                    "kind": kind,
                    "n": i + 1,
                    "scenario": path.stem,
                    "outcome": outcome,
                    "seconds": round(time.monotonic() - t0, 2),
                    "t_s": round(time.monotonic() - start, 1),
                    "rss_mb": round(rss_mb(), 1),
                    "fds": open_fds(),
                    "load1": round(loadavg(), 2),
                }
                samples.append(row)
                if kind == "audio" or (i + 1) % 25 == 0:
                    print(
                        f"{kind} {i + 1:4d} {path.stem:28s} {row['seconds']:6.1f} s  "
                        f"RSS {row['rss_mb']:7.1f} MB  fds {row['fds']}  load {row['load1']}",
                        flush=True,
                    )
    out: dict[str, Any] = {
        "before": base,
        "forced_gc": collect,
        "samples": samples,
        "summary": {},
    }
    for kind in ("text", "audio"):
        rows = [s for s in samples if s["kind"] == kind]
        if not rows:
            continue
        after = [(s["n"], s["rss_mb"]) for s in rows if s["n"] > warmup]
        grow = slope(after)
        out["summary"][kind] = {
            "calls": len(rows),
            "rss_first_mb": rows[0]["rss_mb"],
            "rss_after_warmup_mb": after[0][1] if after else None,
            "rss_last_mb": rows[-1]["rss_mb"],
            "rss_peak_after_warmup_mb": max((y for _, y in after), default=None),
            # net: what the calls after warm-up left behind, per call
            "net_growth_mb_per_call": (
                round((after[-1][1] - after[0][1]) / (len(after) - 1), 3)
                if len(after) > 1
                else None
            ),
            "growth_mb_per_call": None if grow is None else round(grow, 3),
            "fds_first": rows[0]["fds"],
            "fds_last": rows[-1]["fds"],
            "fds_max": max(s["fds"] for s in rows),
            "seconds_per_call": round(sum(s["seconds"] for s in rows) / len(rows), 2),
            "outcomes": dict(Counter(s["outcome"] for s in rows)),
            "load1_min_max": [min(s["load1"] for s in rows), max(s["load1"] for s in rows)],
        }
    return out


def main(args: argparse.Namespace) -> None:
    text = getattr(args, "text", None)
    minutes = getattr(args, "audio_minutes", None)
    quick = getattr(args, "quick", False)
    text = text if text is not None else (6 if quick else 200)
    minutes = minutes if minutes is not None else (1.5 if quick else 10.0)
    warmup = getattr(args, "warmup", None) or (2 if quick else 3)
    max_audio = getattr(args, "audio_calls", None) or (1 if quick else 1000)
    collect = getattr(args, "collect", False)
    audio_files = getattr(args, "audio_scenarios", None) or (
        FULL_AUDIO_SCENARIOS if getattr(args, "full_calls", False) else None
    )
    result = asyncio.run(soak(text, minutes, warmup, max_audio, collect, audio_files))
    rows = [
        [
            kind,
            s["calls"],
            s["rss_first_mb"],
            s["rss_after_warmup_mb"],
            s["rss_last_mb"],
            s["rss_peak_after_warmup_mb"],
            s["growth_mb_per_call"],
            s["net_growth_mb_per_call"],
            f"{s['fds_first']} -> {s['fds_last']} (max {s['fds_max']})",
            s["seconds_per_call"],
            "-".join(str(x) for x in s["load1_min_max"]),
        ]
        for kind, s in result["summary"].items()
    ]
    print(
        table(
            [
                "calls",
                "n",
                "RSS after 1st (MB)",
                "after warm-up",
                "last",
                "peak after warm-up",
                "slope MB/call",
                "net MB/call",
                "open fds",
                "s/call",
                "load",
            ],
            rows,
        )
    )
    path = write_result("soak", result, getattr(args, "out", None))
    print(f"wrote {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--text", type=int, default=None, help="text rehearsals (default 200)")
    parser.add_argument("--audio-minutes", type=float, default=None, help="default 10")
    parser.add_argument(
        "--audio-calls", "--max-audio", type=int, default=None, help="stop after this many"
    )
    parser.add_argument("--audio-scenarios", type=Path, nargs="+", default=None)
    parser.add_argument(
        "--full-calls", action="store_true", help="the full booking/cancel calls (~56 s each)"
    )
    parser.add_argument("--warmup", type=int, default=None, help="calls of each kind ignored")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--collect", action="store_true", help="force gc.collect() after each call (comparison)"
    )
    quiet_logs()
    logging.getLogger("callcrew").setLevel(logging.ERROR)
    main(parser.parse_args())
