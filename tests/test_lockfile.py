"""uv.lock: committed, in step with pyproject.toml, and what the image installs from first.

After adding a dependency to pyproject.toml, `uv lock` refreshes the lock (scripts/install
falls back to pip while the two disagree, but this test fails until the lock is committed).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]


def _uv() -> str | None:
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.exists() else shutil.which("uv")


def test_lock_matches_pyproject() -> None:
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed (scripts/install puts it into .venv)")
    # --offline: resolved from uv's cache and the lock alone; a cold cache cannot decide.
    result = subprocess.run(
        [uv, "lock", "--check", "--offline"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0 and "offline" in result.stderr.lower():
        pytest.skip(f"uv's cache cannot resolve offline here: {result.stderr.strip()[:200]}")
    assert result.returncode == 0, f"uv.lock is stale, run `uv lock`:\n{result.stderr}"


def test_lock_pins_the_project_and_livekit() -> None:
    text = (REPO / "uv.lock").read_text()
    assert re.search(r'^name = "callcrew"$', text, re.M)
    version = re.search(r'name = "livekit-agents"\nversion = "([^"]+)"', text)
    assert version and version.group(1).startswith("1.8.")


def test_docker_dependency_layer_comes_before_the_code() -> None:
    lines = (REPO / "Dockerfile").read_text().splitlines()
    lock = next(i for i, ln in enumerate(lines) if ln.startswith("COPY") and "uv.lock" in ln)
    deps = next(i for i, ln in enumerate(lines) if "--no-install-project" in ln)
    code = next(i for i, ln in enumerate(lines) if ln.startswith("COPY src"))
    assert lock < deps < code
    assert "src" not in lines[lock] and "agents" not in lines[lock]
