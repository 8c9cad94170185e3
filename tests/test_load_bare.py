"""bench/load_bare.py: the load bench's floor, LiveKit's minimal agent fed the cloud run's
fakes, and nothing of callcrew in its worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench import load

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.unit
def test_the_bare_floor_runs_the_cloud_stacks_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    # `--stack bare`: LiveKit's minimal agent, fed the same provider fakes as the cloud run, so
    # the two rows differ by callcrew's code alone
    assert load.stack_env("bare", "http://127.0.0.1:1") == load.stack_env(
        "cloud", "http://127.0.0.1:1"
    )
    assert load.parser().parse_args(["--stack", "bare"]).stack == "bare"
    # set here so the test leaves the process's environment as it found it (the module sets it)
    monkeypatch.setenv("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")
    monkeypatch.setenv("NUM_IDLE_PROCESSES", "1")
    from bench import load_bare
    from livekit.agents import AgentServer

    assert isinstance(load_bare.build(), AgentServer)
    assert load_bare.never_full() == 0.0  # a raw capacity run: the server decides nothing


@pytest.mark.bench  # a fresh interpreter importing livekit-agents: ~9 s, not the fast layer
def test_the_bare_agents_worker_loads_no_callcrew_code() -> None:
    # its cost per call is LiveKit's alone only if the engine never enters its processes
    probe = "import sys, bench.load_bare; print(sorted(m for m in sys.modules if 'callcrew' in m))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
    )
    assert out.stdout.strip() == "[]"
