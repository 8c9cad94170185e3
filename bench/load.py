"""Capacity through the real LiveKit server: N web callers against `callcrew start` workers.

    CALLCREW_DEVSTACK_DIR=/tmp/devstack-capacity bash scripts/devstack isolated -- \\
        env PYTHONPATH=$PWD/src:$PWD .venv/bin/python -m bench load [--stack cloud|local|bare] \\
        [--ns 1,5,10,20,30] [--executor process|thread] [--idle K] [--workers 2] [--quick]

Inside the loopback-only namespace it starts the devstack (livekit-server + Redis), the
OpenAI-compatible LLM stub (fixed TTFT) and, for each N, a fresh worker (`callcrew start`, a
real subprocess with its LiveKit job processes). N callers (bench/load_caller.py) join their
own rooms, ramped in at `--every` s apart, ask for the agent by name, wait out its greeting
and then say one line `--turns` times, each time timing, at their own audio input, the wait
from the line's true end to the agent's first voiced audio.

Stacks: `cloud` = fixed-latency fakes at the provider boundary (bench/load_plugins.py:
Deepgram-like streaming STT, tone TTS; the LLM is the stub behind the real OpenAI plugin),
so the job's own cost shows; `local` = Whisper tiny.en + Hibari + Silero (the LLM still the
stub); `bare` = LiveKit's minimal agent with the cloud fakes and no callcrew code
(bench/load_bare.py), the per-call floor of livekit-agents' design. Per N: calls held,
dispatch and first-audio times, wait p50/p95 (all turns, and the turns taken while all N calls
were up), dropped and never-dispatched calls, the worker tree's CPU (cores) and memory (RSS and
PSS; per additional call against the idle worker).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.load_caller import CallPlan, CallResult, run_call
from bench.load_proc import (
    LLMStub,
    TreeSampler,
    WorkerProc,
    breakdown,
    cpu_of,
    describe,
    devstack,
    devstack_env,
    loadavg,
    machine_busy,
    server_pid,
    settle,
    start_worker,
)

AGENT = "callcrew-load"
LINE = "Hi, I'd like to book a haircut for next week."


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.0f}"


def stack_env(stack: str, llm_url: str) -> dict[str, str]:
    env = {"LLM": "openai/gpt-4.1-mini", "LLM_BASE_URL": llm_url, "OPENAI_API_KEY": "stub"}
    if stack in ("cloud", "bare"):
        env.update(STACK="economy", STT="bench/streaming", TTS="bench/tone",
                   CALLCREW_PLUGIN_MODULES="bench.load_plugins")  # fmt: skip
    else:
        env.update(STACK="local", STT="local/tiny.en", TTS="local/heart")
    return env


def synthesise_line() -> Any:
    import numpy as np

    from bench.common import CallerLine, render
    from bench.load_caller import RATE

    pcm, _ = render(CallerLine([LINE]))  # 16 kHz
    t = np.arange(len(pcm) * RATE // 16_000) * 16_000 / RATE
    return np.interp(t, np.arange(len(pcm)), pcm).astype(np.int16)


async def run_n(plan: CallPlan, n: int, every: float) -> list[CallResult]:
    async def one(i: int) -> CallResult:
        await asyncio.sleep(i * every)
        return await run_call(plan, f"load-{n}-{i}-{os.getpid()}-{int(time.time())}")

    return list(await asyncio.gather(*(one(i) for i in range(n))))


def summarise(n: int, calls: list[CallResult], extra: dict[str, Any]) -> dict[str, Any]:
    waits = [w for c in calls for _, w in c.waits]
    # "at full load": turns whose line ended while every caller of this run was in its call
    starts = [c.started for c in calls]
    ends = [c.ended or c.started for c in calls]
    full_from, full_to = max(starts), min(ends)
    full = [w for c in calls for t, w in c.waits if full_from <= t <= full_to]
    dispatch = [c.dispatch_s for c in calls if c.dispatch_s is not None]
    greeting = [c.greeting_s for c in calls if c.greeting_s is not None]
    return {
        "n": n,
        "held": sum(c.held for c in calls),
        "never_dispatched": sum(not c.dispatched for c in calls),
        "dropped": sum(c.dispatched and c.dropped is not None for c in calls),
        "unanswered": sum(c.unanswered for c in calls),
        "drop_reasons": sorted({c.dropped for c in calls if c.dropped}),
        "turns": len(waits),
        "wait_p50": pct(waits, 50),
        "wait_p95": pct(waits, 95),
        "full_turns": len(full),
        "full_p95": pct(full, 95),
        "dispatch_p50": pct(dispatch, 50),
        "dispatch_p95": pct(dispatch, 95),
        "greeting_p95": pct(greeting, 95),
        "per_call": [
            {
                "room": c.room,
                "dispatch_s": c.dispatch_s,
                "greeting_s": c.greeting_s,
                "waits": [round(w, 3) for _, w in c.waits],
                "unanswered": c.unanswered,
                "dropped": c.dropped,
            }
            for c in calls
        ],
        **extra,
    }


def measure(
    args: argparse.Namespace, n: int, plan: CallPlan, env: dict[str, str], home: Path
) -> dict[str, Any]:
    workers: list[WorkerProc] = []
    samplers: list[TreeSampler] = []
    try:
        for w in range(args.workers):
            workers.append(start_worker(home / f"n{n}-w{w}", env, bare=args.stack == "bare"))
        settle(args.settle)
        samplers = [TreeSampler(w.proc.pid).start() for w in workers]
        idle = [s.sample() for s in samplers]
        idle_tree = [breakdown(w.proc.pid) for w in workers]
        cpu0 = sum(s.cpu_s() for s in samplers)
        busy0, total0 = machine_busy()
        lk_pid = server_pid()
        lk0 = cpu_of(lk_pid) if lk_pid else 0.0
        me0 = sum(os.times()[:2])
        t0 = time.time()
        calls = asyncio.run(run_n(plan, n, args.every))
        t1 = time.time()
        cpu1 = sum(s.cpu_s() for s in samplers)
        me1 = sum(os.times()[:2])
        lk1 = cpu_of(lk_pid) if lk_pid else 0.0
        busy1, total1 = machine_busy()
        load = loadavg()
        peaks = [s.peak(t0, t1) for s in samplers]
        peak_pss = sum(p.pss_mb for p in peaks if p)
        peak_rss = sum(p.rss_mb for p in peaks if p)
        idle_pss = sum(s.pss_mb for s in idle)
        idle_rss = sum(s.rss_mb for s in idle)
        logs = "".join(w.log_text() for w in workers)
        extra = {
            "window_s": round(t1 - t0, 1),
            "worker_cores": round((cpu1 - cpu0) / (t1 - t0), 2),
            "machine_cpu": round((busy1 - busy0) / max(total1 - total0, 1), 2),
            # the same box also runs the callers (this process) and livekit-server
            "callers_cores": round((me1 - me0) / (t1 - t0), 2),
            "server_cores": round((lk1 - lk0) / (t1 - t0), 2),
            "idle_rss_mb": round(idle_rss), "idle_pss_mb": round(idle_pss),
            "peak_rss_mb": round(peak_rss), "peak_pss_mb": round(peak_pss),
            "pss_per_call_mb": round((peak_pss - idle_pss) / n, 1),
            "rss_per_call_mb": round((peak_rss - idle_rss) / n, 1),
            "peak_procs": max((p.procs for p in peaks if p), default=0),
            "vad_slow_warnings": logs.count("slower than realtime"),
            "reports": sum(len(list((w.home / "reports").glob("*.json"))) for w in workers),
            "loadavg": load,
            "idle_tree": idle_tree,
        }  # fmt: skip
        if args.workers > 1:
            extra["jobs_per_worker"] = [w.count("received job request") for w in workers]
        return summarise(n, calls, extra)
    finally:
        for s in samplers:
            s.stop()
        for w in workers:
            w.stop()


def print_table(rows: list[dict[str, Any]]) -> None:
    head = ("N", "held", "never disp.", "dropped", "unans.", "dispatch p50/p95 ms",
            "wait p50 ms", "wait p95 ms", "p95 all-up ms", "worker cores", "machine",
            "callers/server cores",
            "PSS idle/peak MB", "PSS/call MB", "RSS/call MB", "loadavg")  # fmt: skip
    print(" | ".join(head))
    for r in rows:
        cells = [
            r["n"], r["held"], r["never_dispatched"], r["dropped"], r["unanswered"],
            f"{ms(r['dispatch_p50'])}/{ms(r['dispatch_p95'])}", ms(r["wait_p50"]),
            ms(r["wait_p95"]), f"{ms(r['full_p95'])} ({r['full_turns']})", r["worker_cores"],
            f"{r['machine_cpu']:.0%}", f"{r['callers_cores']}/{r['server_cores']}",
            f"{r['idle_pss_mb']}/{r['peak_pss_mb']}",
            r["pss_per_call_mb"], r["rss_per_call_mb"], " ".join(r["loadavg"].split()[:3]),
        ]  # fmt: skip
        print(" | ".join(str(c) for c in cells), flush=True)


def markdown(rows: list[dict[str, Any]]) -> str:
    """The table for docs/benchmarks.md."""
    out = [
        "| N calls | held | never dispatched | dropped | unanswered lines | dispatch p50 / p95 "
        "| wait p50 | wait p95 | p95, all N up (turns) | worker CPU (cores) | machine CPU "
        "| callers / server CPU | PSS idle -> peak | PSS / extra call | RSS / extra call "
        "| loadavg (1/5/15) |",
        "|---" * 16 + "|",
    ]
    for r in rows:
        out.append(
            f"| {r['n']} | {r['held']} | {r['never_dispatched']} | {r['dropped']} "
            f"| {r['unanswered']} | {ms(r['dispatch_p50'])} / {ms(r['dispatch_p95'])} ms "
            f"| {ms(r['wait_p50'])} ms | {ms(r['wait_p95'])} ms "
            f"| {ms(r['full_p95'])} ms ({r['full_turns']}) | {r['worker_cores']} "
            f"| {r['machine_cpu']:.0%} | {r['callers_cores']} / {r['server_cores']} "
            f"| {r['idle_pss_mb']} -> {r['peak_pss_mb']} MB "
            f"| {r['pss_per_call_mb']} MB | {r['rss_per_call_mb']} MB "
            f"| {' '.join(r['loadavg'].split()[:3])} |"
        )
    return "\n".join(out)


def main(args: argparse.Namespace) -> int:
    if os.environ.get("CALLCREW_DEVSTACK_ISOLATED") != "1":
        print(
            "bench load: run it inside `scripts/devstack isolated -- ...` (WebRTC callers "
            "need a loopback-only network namespace)",
            file=sys.stderr,
        )
        return 2
    ns = [1, 2] if args.quick else [int(x) for x in args.ns.split(",")]
    import logging

    # the agent cancels LLM streams it no longer needs (preemptive generation): not an error
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    up = devstack("up", target_load=args.target_load)
    if up.returncode != 0:
        print(f"bench load: scripts/devstack up failed:\n{up.stdout}{up.stderr}", file=sys.stderr)
        return 1
    stub = LLMStub(args.ttft_ms).start()
    rows: list[dict[str, Any]] = []
    try:
        lk = devstack_env()
        env = {
            "LIVEKIT_URL": lk["LIVEKIT_URL"], "LIVEKIT_API_KEY": lk["LIVEKIT_API_KEY"],
            "LIVEKIT_API_SECRET": lk["LIVEKIT_API_SECRET"], "AGENT_NAME": AGENT,
            "WORKER_LOAD_THRESHOLD": str(args.threshold), "JOB_EXECUTOR": args.executor,
            **stack_env(args.stack, stub.url),
        }  # fmt: skip
        env["WORKER_CPU_FULL"] = str(args.cpu_full)
        if args.idle is not None:
            env["NUM_IDLE_PROCESSES"] = str(args.idle)
        # unset here: the worker never reports itself full by calls (a raw capacity run)
        env["WORKER_MAX_CALLS"] = str(args.max_calls or 1000)
        for kv in args.env:
            k, _, v = kv.partition("=")
            env[k] = v
        plan = CallPlan(
            url=lk["LIVEKIT_URL"], api_key=lk["LIVEKIT_API_KEY"],
            api_secret=lk["LIVEKIT_API_SECRET"], agent_name=AGENT, line=synthesise_line(),
            turns=1 if args.quick else args.turns, answer_timeout=args.answer_timeout,
        )  # fmt: skip
        print(f"stack {args.stack}: {json.dumps(describe(env))}; loadavg {loadavg()}", flush=True)
        home = Path(tempfile.mkdtemp(prefix="callcrew-load-"))
        for n in ns:
            row = measure(args, n, plan, env, home)
            rows.append(row)
            print_table([row])
    finally:
        stub.stop()
        devstack("down", target_load=args.target_load)
    print_table(rows)
    print(markdown(rows))
    from bench.common import write_result

    path = write_result(
        f"load-{args.stack}",
        {"settings": describe(env), "args": vars(args), "rows": rows},
        args.out,
    )
    print(f"wrote {path}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench load", description=__doc__.splitlines()[0])
    p.add_argument(
        "--stack",
        choices=["cloud", "local", "bare"],
        default="cloud",
        help="bare: LiveKit's minimal agent with the cloud fakes, no callcrew code (the floor)",
    )
    p.add_argument("--ns", default="1,5,10,20,30", help="comma-separated numbers of calls")
    p.add_argument("--turns", type=int, default=4, help="caller lines per call")
    p.add_argument("--answer-timeout", type=float, default=10.0, help="s: else unanswered")
    p.add_argument("--every", type=float, default=0.5, help="seconds between call starts")
    p.add_argument("--executor", choices=["process", "thread"], default="process")
    p.add_argument("--idle", type=int, default=None, help="NUM_IDLE_PROCESSES")
    p.add_argument("--max-calls", type=int, default=0, help="WORKER_MAX_CALLS (0: never full)")
    p.add_argument(
        "--cpu-full",
        type=float,
        default=0.0,
        help="WORKER_CPU_FULL (0: CPU not counted, the worker never refuses)",
    )
    p.add_argument("--threshold", type=float, default=1.0, help="WORKER_LOAD_THRESHOLD")
    p.add_argument("--target-load", type=float, default=1.0, help="server agents.target_load")
    p.add_argument("--workers", type=int, default=1, help="worker processes on one server")
    p.add_argument("--ttft-ms", type=float, default=200.0, help="the LLM stub's TTFT")
    p.add_argument("--settle", type=float, default=8.0, help="s for idle processes to warm")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE for the worker")
    p.add_argument("--quick", action="store_true", help="N = 1, 2, one line: a smoke run")
    p.add_argument("--out", type=Path, default=None)
    return p


if __name__ == "__main__":
    sys.exit(main(parser().parse_args()))
