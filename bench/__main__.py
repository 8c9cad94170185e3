"""`python -m bench <suite> [--quick]`: benchmarks that print tables and write JSON to
bench/results/. They report numbers and never pass or fail on them.

Suites: engine, greeting, context, concurrency, cost, turntaking, turntaking_interrupts,
fallback, outbox, soak (and `all`, in that order). The local Whisper/Hibari voice loop is
separate: `python -m bench.local_loop`; so are the cost levers that need audio, `python -m
bench.cost_audio`, livekit-server's CPU per call-minute, `python -m bench.server_cpu`
(inside `scripts/devstack isolated`), and capacity through the real server, `python -m bench
load --help`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

SUITES = [
    "engine",
    "greeting",
    "context",
    "concurrency",
    "cost",
    "turntaking",
    "turntaking_interrupts",
    "fallback",
    "outbox",
    "soak",
]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["load"]:  # through the real server, with its own options (bench/load.py)
        from bench import load

        return load.main(load.parser().parse_args(argv[1:]))
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("suite", choices=[*SUITES, "all"])
    parser.add_argument("--quick", action="store_true", help="tiny N: a smoke run, not a result")
    parser.add_argument(
        "--part", choices=["all", "turns", "pipeline"], default="all",
        help="engine only: defaults-vs-tuned turns, or the crew-vs-bare pipeline cost",
    )  # fmt: skip
    parser.add_argument(
        "--configs", default=None,
        help="turntaking only: comma-separated configuration names (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--sessions", type=int, default=None,
        help="turntaking only: simultaneous calls (default 7; fewer on a busy machine)",
    )  # fmt: skip
    parser.add_argument(
        "--tags", default=None,
        help="turntaking only: comma-separated corpus tags to play (default: every line)",
    )  # fmt: skip
    parser.add_argument(
        "--no-question", action="store_true",
        help="turntaking only: the session does not see the agent's question (corpus asked:)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON results")
    args = parser.parse_args(argv)
    from bench.common import quiet_logs

    quiet_logs()
    for name in SUITES if args.suite == "all" else [args.suite]:
        t0 = time.perf_counter()
        print(f"== {name}{' (quick)' if args.quick else ''}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        module.main(args)
        print(f"== {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
