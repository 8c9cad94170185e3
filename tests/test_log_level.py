"""LOG_LEVEL is applied for real: a `callcrew start` worker (a subprocess of the real command,
pointed at a closed loopback port) logs at the level the setting names."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(level: str, port: int, tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / f"{level}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT", "LOG_", "STACK"))}
    env.update(
        LOG_LEVEL=level,
        WORKER_PORT="0",  # two workers at once (and other people's) on this host
        LIVEKIT_URL=f"ws://127.0.0.1:{port}",
        LIVEKIT_API_KEY="devkey",
        LIVEKIT_API_SECRET="a-secret-of-at-least-thirty-two-bytes!",
        DEEPGRAM_API_KEY="x",
        OPENAI_API_KEY="x",
        CARTESIA_API_KEY="x",
        PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}",
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from callcrew.cli import main; main()", "start"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, log


def test_log_level_error_and_debug(tmp_path: Path) -> None:
    port = _closed_port()
    quiet, quiet_log = _worker("ERROR", port, tmp_path)
    loud, loud_log = _worker("DEBUG", port, tmp_path)
    try:
        # The DEBUG worker's first reconnect attempt: by then both have started and logged.
        deadline = time.monotonic() + 120
        while "failed to connect to livekit" not in loud_log.read_text():
            if loud.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        for proc in (quiet, loud):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in (quiet, loud):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    loud_text, quiet_text = loud_log.read_text(), quiet_log.read_text()
    assert "failed to connect to livekit" in loud_text, loud_text[-3000:]
    assert '"level": "DEBUG"' in loud_text and '"level": "INFO"' in loud_text
    for level in ("DEBUG", "INFO", "WARNING"):
        assert f'"level": "{level}"' not in quiet_text, quiet_text[-3000:]
