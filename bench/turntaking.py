"""Turn-taking sweep: VAD min silence x endpointing min delay x preemptive generation.

    .venv/bin/python -m bench turntaking [--quick]

For each setting, several simultaneous calls (bare Agent, fixed-latency providers, real Silero
VAD, espeak-ng caller) say ordinary lines and lines with a mid-sentence pause (0.4/0.6/0.8 s,
bench/data/caller_lines.yaml). Per setting: turn gap p50/p95 on the ordinary lines, and how many
pause lines were cut off (a caller turn committed before the caller had finished).
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.common import (
    TurnConfig,
    collect,
    cutoffs,
    load_lines,
    ms,
    plain_specs,
    run_calls,
    spread,
    summary,
    table,
    write_result,
)
from bench.fakes import Latencies

SWEEP = [(0.55, 0.5), (0.4, 0.3), (0.3, 0.2), (0.2, 0.15)]


def configs(quick: bool) -> list[TurnConfig]:
    grid = SWEEP[-1:] if quick else SWEEP
    out = []
    for preemptive in (False, True):
        for sil, delay in grid:
            out.append(TurnConfig(f"{sil:g}/{delay:g}", sil, delay, preemptive))
        if quick:
            break
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    lat = Latencies()
    lines = load_lines("caller_lines.yaml")
    sessions, plain, pause = (1, 1, 1) if args.quick else (4, 8, 5)
    rows = []
    results = []
    for cfg in configs(args.quick):
        scripts = spread(lines, sessions, plain, pause)
        calls = await run_calls(plain_specs(cfg, lat, scripts))
        vals = collect(calls)
        cut = cutoffs(calls)
        entry = {
            "config": cfg.as_dict(),
            "sessions": sessions,
            "turn_gap_s": summary(vals["turn_gap_s"]),
            "total_wait_s": summary(vals["total_wait_s"]),
            "vad_lag_s": summary(vals["vad_lag_s"]),
            "endpoint_wait_s": summary(vals["endpoint_wait_s"]),
            "pipeline_s": summary(vals["pipeline_s"]),
            "x_on_path_s": summary(vals["x_on_path_s"]),
            "cutoffs": cut,
            "errors": [c["error"] for c in calls if c["error"]],
            "input_max_lateness_s": max(c["input_max_lateness_s"] for c in calls),
        }
        results.append(entry)
        g = entry["turn_gap_s"]
        rows.append(
            [
                cfg.label,
                "on" if cfg.preemptive else "off",
                g["n"],
                ms(g["p50"]),
                ms(g["p95"]),
                ms(entry["total_wait_s"]["p50"]),
                f"{cut['premature']}/{cut['pause_lines']}",
                " ".join(f"{k}s:{v}" for k, v in cut["by_pause_s"].items()),
                cut["plain_premature"],
            ]
        )
        print(f"  {cfg.label} preemptive {'on' if cfg.preemptive else 'off'}: done", flush=True)
    print(
        table(
            [
                "silence/min_delay",
                "preempt",
                "n",
                "gap p50 ms",
                "gap p95 ms",
                "wait p50 ms",
                "cut-offs",
                "by pause",
                "plain cut",
            ],
            rows,
        )
    )
    return {"latencies": lat.as_dict(), "reply": "Okay, got it.", "results": results}


def main(args: argparse.Namespace) -> dict[str, Any]:
    import asyncio

    result = asyncio.run(run(args))
    path = write_result("turntaking", result, args.out)
    print(f"wrote {path}")
    return result
