"""`python -m bench.startup [--runs N] [--src DIR]`: how long commands take to start.

Wall time of `callcrew --help` and `callcrew cost` (fresh interpreter each run; min and median
of N), and `python -X importtime -c "import callcrew.cli"`'s cumulative figure, with whether
LiveKit's agent framework got imported. `--src` measures another checkout's `src` (e.g. main's,
for a before/after). A loaded machine slows every figure: the load average is printed beside
them. Numbers only; tests/test_lazycli.py checks the behaviour (which modules are imported).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {"--help": ["--help"], "cost": ["cost"]}


def _env(src: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(ROOT)])}


def _wall(args: list[str], env: dict[str, str], runs: int) -> list[float]:
    code = (
        "import sys; from callcrew.cli import main; sys.argv = ['callcrew', *sys.argv[1:]]; main()"
    )
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", code, *args], env=env, capture_output=True, check=False
        )
        times.append(time.perf_counter() - t0)
    return times


def _importtime(env: dict[str, str]) -> tuple[float, bool]:
    probe = "import sys, callcrew.cli; print('livekit.agents' in sys.modules)"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    total = 0.0
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| callcrew\.cli$", line)
        if m:
            total = int(m.group(1)) / 1e6
    return total, proc.stdout.strip() == "True"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the callcrew to measure")
    args = parser.parse_args(argv)
    env = _env(args.src.resolve())
    load_before = os.getloadavg()
    result: dict[str, object] = {"src": str(args.src), "runs": args.runs}
    for name, cmd in COMMANDS.items():
        times = _wall(cmd, env, args.runs)
        result[name] = {
            "min_s": round(min(times), 3),
            "median_s": round(statistics.median(times), 3),
        }
    total, heavy = _importtime(env)
    result["import_callcrew_cli_s"] = round(total, 3)
    result["imports_livekit_agents"] = heavy
    result["loadavg_at_start_1_5_15"] = [round(x, 2) for x in load_before]
    result["loadavg_at_end_1"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
