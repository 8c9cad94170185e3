"""Concurrency: N simultaneous audio calls in one process sharing one Silero VAD.

    .venv/bin/python -m bench concurrency [--quick]

N = 1, 10, 25, 50 calls (bare Agent, fixed-latency providers, espeak-ng caller in real time,
our tuned turn-taking), starts spread over a few seconds. Per N: turn gap and pipeline time
p50/p95, CPU seconds per call-minute (process CPU time / summed call minutes), RSS per call
((peak RSS during the run - RSS before it) / N), the mic's worst lateness (how late a 20 ms
frame was delivered: the event loop falling behind), and turns that never got an answer.
Also the RSS of one fresh process with the engine, the crew and Silero loaded (a LiveKit job
process, before its call).

No server, no WebRTC, no job processes: this is the pipeline's own ceiling per process. The
capacity of a machine is measured through the real livekit-server by `python -m bench load`
(docs/benchmarks.md, "Capacity through the real server"), which supersedes the machine-level
estimate this suite used to give.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from typing import Any

from bench.call_run import collect, run_calls
from bench.common import (
    ROOT,
    cpu_clock,
    load_lines,
    ms,
    plain_specs,
    rss_mb,
    spread,
    summary,
    table,
    vad_for,
    write_result,
)
from bench.engine import tuned
from bench.fakes import Latencies

FRESH = """
import os, sys
sys.path[:0] = [{src!r}, {root!r}]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import callcrew.worker, agents.crew
from livekit.plugins import silero
silero.VAD.load()
print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:")))
"""


def fresh_process_rss_mb() -> float:
    code = FRESH.format(src=str(ROOT / "src"), root=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024


async def level(n: int, lines_per_call: int, lat: Latencies) -> dict[str, Any]:
    cfg = tuned()
    lines = load_lines("caller_lines.yaml")
    scripts = spread(lines, n, lines_per_call, 0)
    specs = plain_specs(cfg, lat, scripts, stagger_s=min(1.3, 6.0 / n), label=f"N={n}")
    peak = base = rss_mb()
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_mb())
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    with cpu_clock() as clock:
        calls = await run_calls(specs)
    stop.set()
    await sampler
    vals = collect(calls)
    call_min = sum(c["wall_s"] for c in calls) / 60
    turns = sum(len(c["lines"]) for c in calls)
    return {
        "n": n,
        "lines_per_call": lines_per_call,
        "turns": turns,
        "answered": len(vals["turn_gap_s"]),
        "turn_gap_s": summary(vals["turn_gap_s"]),
        "pipeline_s": summary(vals["pipeline_s"]),
        "total_wait_s": summary(vals["total_wait_s"]),
        "cpu_s": round(clock["cpu_s"], 2),
        "wall_s": round(clock["wall_s"], 2),
        "call_minutes": round(call_min, 2),
        "cpu_s_per_call_minute": round(clock["cpu_s"] / call_min, 3) if call_min else None,
        "cpu_cores_busy": round(clock["cpu_s"] / clock["wall_s"], 3),
        "rss_before_mb": round(base, 1),
        "rss_peak_mb": round(peak, 1),
        "rss_per_call_mb": round((peak - base) / n, 2),
        "input_max_lateness_s": max(c["input_max_lateness_s"] for c in calls),
        "errors": [c["error"] for c in calls if c["error"]],
    }


async def split(n_procs: int, per_proc: int, lines: int) -> dict[str, Any]:
    """`n_procs` worker-like processes with `per_proc` calls each, at the same time (LiveKit
    can run jobs in several processes; the GIL caps what one process does)."""
    code = (
        "import asyncio, json, sys; sys.path[:0] = [{src!r}, {root!r}]\n"
        "from bench.common import quiet_logs, vad_for\n"
        "from bench.concurrency import level, tuned\n"
        "from bench.fakes import Latencies\n"
        "quiet_logs(); vad_for(tuned().vad_min_silence)\n"
        "print(json.dumps(asyncio.run(level({n}, {lines}, Latencies()))))\n"
    ).format(src=str(ROOT / "src"), root=str(ROOT), n=per_proc, lines=lines)
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(n_procs)
    ]
    outs = [json.loads((await p.communicate())[0].decode().strip().splitlines()[-1]) for p in procs]
    return {"processes": n_procs, "calls_per_process": per_proc, "per_process": outs}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    lat = Latencies()
    levels = [(1, 1)] if args.quick else [(1, 30), (10, 4), (25, 4), (50, 4)]
    fresh = fresh_process_rss_mb()
    vad_for(tuned().vad_min_silence)  # loaded before the baseline RSS is taken
    results = []
    rows = []
    for n, per in levels:
        t0 = time.perf_counter()
        r = await level(n, per, lat)
        results.append(r)
        g, p = r["turn_gap_s"], r["pipeline_s"]
        rows.append(
            [n, f"{r['answered']}/{r['turns']}", ms(g["p50"]), ms(g["p95"]), ms(p["p50"]),
             ms(p["p95"]), r["cpu_s_per_call_minute"], r["cpu_cores_busy"],
             r["rss_per_call_mb"], ms(r["input_max_lateness_s"])]
        )  # fmt: skip
        print(f"  N={n}: {time.perf_counter() - t0:.0f} s", flush=True)
        await asyncio.sleep(1.0)
    print(
        table(
            [
                "N calls",
                "answered",
                "gap p50",
                "gap p95",
                "pipeline p50",
                "p95",
                "CPU s/call-min",
                "cores busy",
                "RSS MB/call",
                "mic late max ms",
            ],
            rows,
        )
    )
    print(f"fresh job process (engine + crew + Silero loaded): {fresh:.0f} MB RSS")
    procs, per = (2, 1) if args.quick else (2, 15)
    multi = await split(procs, per, 1 if args.quick else 4)
    mrows = [
        [f"process {k + 1}: {o['n']} calls", f"{o['answered']}/{o['turns']}",
         ms(o["turn_gap_s"]["p50"]), ms(o["turn_gap_s"]["p95"]), o["cpu_s_per_call_minute"],
         o["cpu_cores_busy"], ms(o["input_max_lateness_s"])]
        for k, o in enumerate(multi["per_process"])
    ]  # fmt: skip
    print(
        table(
            [
                f"{procs} processes at once",
                "answered",
                "gap p50",
                "gap p95",
                "CPU s/call-min",
                "cores busy",
                "mic late max ms",
            ],
            mrows,
        )
    )
    return {
        "multi_process": multi,
        "latencies": lat.as_dict(),
        "config": tuned().as_dict(),
        "fresh_process_rss_mb": round(fresh, 1),
        "levels": results,
    }


def main(args: argparse.Namespace) -> dict[str, Any]:
    result = asyncio.run(run(args))
    print(f"wrote {write_result('concurrency', result, args.out)}")
    return result
