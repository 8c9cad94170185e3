"""`callcrew console --text` in a real terminal (a pty) with only an LLM configured.

No Deepgram or Cartesia key: the console starts, says the greeting as text, sends the typed
line to the model (the local OpenAI-compatible stub) and prints its answer.
"""

from __future__ import annotations

import asyncio
import ctypes.util
import os
import pty
import select
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.openai_stub import OpenAIStub, StubReply, serve

pytestmark = pytest.mark.rehearsal

REPLY = "Happy to help. What name should I book under?"


def _read(fd: int, timeout: float) -> bytes:
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError:  # the child closed the terminal
        return b""


async def test_text_console_talks_with_only_an_llm(tmp_path: Path) -> None:
    if ctypes.util.find_library("portaudio") is None:
        if os.environ.get("CI"):
            pytest.fail("libportaudio2 is missing (scripts/install --system installs it)")
        pytest.skip("LiveKit's console needs libportaudio2 even in text mode")
    callcrew = shutil.which("callcrew", path=str(Path(sys.executable).parent))
    assert callcrew, "the callcrew command is not installed beside this Python"
    stub = OpenAIStub(replies=[StubReply(text=REPLY)])
    async with serve(stub) as s:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.endswith("_API_KEY") and k not in ("STACK", "STT", "TTS", "LLM")
        }
        env.update(
            OPENAI_API_KEY="sk-test-not-sent-anywhere-else",
            LLM_BASE_URL=s.url,
            DATABASE_URL=f"sqlite:///{tmp_path / 'console.db'}",
            PHRASE_CACHE_DIR="",
            REPORTS_DIR=str(tmp_path / "reports"),
        )
        pid, fd = pty.fork()
        if pid == 0:  # the child: the real command in a terminal
            os.chdir(tmp_path)
            os.execve(callcrew, ["callcrew", "console", "--text"], env)
        out = b""
        typed = False
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and REPLY.encode() not in out:
                chunk = await asyncio.to_thread(_read, fd, 0.5)
                out += chunk
                if not typed and b"Maple Street Salon" in out:
                    os.write(fd, b"Hi, I want a haircut\r")
                    typed = True
                if not chunk and os.waitpid(pid, os.WNOHANG) != (0, 0):
                    pid = 0  # exited and reaped
                    break
        finally:
            if pid:
                os.kill(pid, signal.SIGTERM)
                await asyncio.to_thread(os.waitpid, pid, 0)
            os.close(fd)
    text = out.decode(errors="replace")
    assert "DEEPGRAM_API_KEY" not in text and "CARTESIA_API_KEY" not in text, text[-2000:]
    assert typed, f"no greeting in the console:\n{text[-2000:]}"
    assert REPLY in text, text[-2000:]
    assert stub.requests and "haircut" in str(stub.requests[-1]["messages"])
