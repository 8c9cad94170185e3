"""The worker's load as LiveKit sees it: calls held against WORKER_MAX_CALLS, and the CPU.

livekit-server hands a job only to a worker whose reported load is below `agents.target_load`,
and the worker itself refuses at WORKER_LOAD_THRESHOLD; both read the same figure (livekit.yaml
keeps them equal). LiveKit's default load is the machine's CPU averaged over 2.5 s. Measured
through the real server (`python -m bench load`, docs/benchmarks.md), the CPU figure is a poor
gauge of call quality on a small box: the wait stays flat while the CPU climbs, then turns up
within a few calls. So the load here is the larger of

- `threshold * calls / max_calls`: exactly the threshold at the measured capacity, so the
  worker takes `max_calls` calls and refuses the next (to another worker, or the dispatch
  waits); and
- the CPU average, scaled so that `cpu_full` (a fraction of the machine) reads as the
  threshold: a machine busy with something else still sheds calls before they suffer.
  `cpu_full` 0 leaves the CPU out (the load bench, on a machine shared with other work).
"""

from __future__ import annotations

import threading
from typing import Any

from livekit.agents import utils
from livekit.agents.utils.hw import get_cpu_monitor

# Calls per core at which a worker reports itself full when WORKER_MAX_CALLS is unset: the most
# that stayed within +100 ms p95 of one call through the real server (python -m bench load on
# a 2-core machine; docs/benchmarks.md, "Capacity through the real server").
CALLS_PER_CORE = {"cloud": 0.5, "local": 0.5}

_SAMPLE_S = 0.5
_WINDOW = 5  # 2.5 s, as LiveKit's own load average


def default_max_calls(local_models: bool, cores: float | None = None) -> int:
    """WORKER_MAX_CALLS when unset: the measured calls per core times this machine's cores
    (its cgroup's CPU quota, in a container)."""
    cores = get_cpu_monitor().cpu_count() if cores is None else cores
    return max(1, int(CALLS_PER_CORE["local" if local_models else "cloud"] * cores))


class CallLoad:
    """A `load_fnc` for AgentServer (called with the server, in an executor thread)."""

    def __init__(self, *, threshold: float, max_calls: int | None, cpu_full: float) -> None:
        self.threshold = threshold
        self.max_calls = max_calls
        self.cpu_full = cpu_full
        self._avg = utils.MovingAverage(_WINDOW)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        monitor = get_cpu_monitor()
        while True:
            cpu = monitor.cpu_percent(interval=_SAMPLE_S)  # blocks for the interval
            with self._lock:
                self._avg.add_sample(cpu)

    def cpu(self) -> float:
        if self._thread is None:
            # Started on first use, in the worker's main process only (not in job processes).
            self._thread = threading.Thread(target=self._sample, daemon=True, name="call_load")
            self._thread.start()
        with self._lock:
            return float(self._avg.get_avg()) if self._avg.size() else 0.0

    def of(self, calls: int, cpu: float) -> float:
        """The load for `calls` calls in progress and CPU fraction `cpu` (0..1)."""
        by_cpu = min(cpu / self.cpu_full, 1.0) * self.threshold if self.cpu_full else 0.0
        if self.max_calls is None:
            return by_cpu
        return max(by_cpu, self.threshold * calls / self.max_calls)

    def __call__(self, server: Any) -> float:
        return self.of(len(server.active_jobs), self.cpu())
