"""What the load bench runs beside its callers: the devstack, `callcrew start` workers, the LLM
stub, and a sampler of a worker's whole process tree (CPU, RSS and PSS from /proc).

PSS (proportional set size) divides pages shared copy-on-write between processes (LiveKit's
forkserver and its job processes) among them, so a tree's PSS is what it really costs in RAM;
summed RSS counts every shared page once per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEVSTACK = ROOT / "scripts" / "devstack"
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# --- /proc ---------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds user+system) of a process, None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def tree(root: int) -> list[int]:
    """The process and every descendant (LiveKit's forkserver, job and inference processes)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = st[0]
    found, frontier = {root}, [root]
    while frontier:
        cur = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == cur and pid not in found:
                found.add(pid)
                frontier.append(pid)
    return sorted(found)


def breakdown(root: int) -> list[dict[str, Any]]:
    """Per process of the tree: pid, what it is (its command line, shortened), RSS and PSS."""
    rows = []
    for pid in tree(root):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        what = " ".join(a.decode(errors="replace") for a in argv[:4])[:120]
        rss, pss = memory_mb(pid)
        rows.append({"pid": pid, "what": what, "rss_mb": round(rss), "pss_mb": round(pss)})
    return rows


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of one process in MB; (0, 0) once it is gone."""
    rss = pss = 0.0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) / 1024
    except OSError:
        return 0.0, 0.0
    return rss, pss


@dataclass
class TreeSample:
    t: float
    procs: int
    rss_mb: float
    pss_mb: float


@dataclass
class TreeSampler:
    """Samples a process tree every `every` s in a thread: memory, and CPU per process (the
    most seen per pid, so a job process that exits keeps what it used until its last sample)."""

    root: int
    every: float = 1.0
    samples: list[TreeSample] = field(default_factory=list)
    cpu: dict[int, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> TreeSample:
        rss = pss = 0.0
        pids = tree(self.root)
        for pid in pids:
            if (st := _stat(pid)) is not None:
                self.cpu[pid] = max(self.cpu.get(pid, 0.0), st[1])
            r, p = memory_mb(pid)
            rss, pss = rss + r, pss + p
        s = TreeSample(time.time(), len(pids), rss, pss)
        self.samples.append(s)
        return s

    def cpu_s(self) -> float:
        return sum(self.cpu.values())

    def start(self) -> TreeSampler:
        def loop() -> None:
            while not self._stop.wait(self.every):
                self.sample()

        self._thread = threading.Thread(target=loop, daemon=True, name="tree-sampler")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def peak(self, since: float, until: float) -> TreeSample | None:
        window = [s for s in self.samples if since <= s.t <= until]
        return max(window, key=lambda s: s.pss_mb) if window else None


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 once it is gone."""
    st = _stat(pid)
    return st[1] if st is not None else 0.0


def server_pid() -> int | None:
    """The livekit-server of this devstack (its command line names our state dir's config)."""
    config = os.environ.get("CALLCREW_DEVSTACK_DIR", "")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"livekit-server") and config.encode() in b" ".join(argv):
            return int(entry.name)
    return None


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    return float(sum(parts) - idle), float(sum(parts))


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


# --- devstack --------------------------------------------------------------------------------


def devstack(*args: str, target_load: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEVSTACK_AGENT_TARGET_LOAD": str(target_load)}
    return subprocess.run(
        [str(DEVSTACK), *args], capture_output=True, text=True, timeout=180, check=False, env=env
    )


def devstack_env() -> dict[str, str]:
    out = subprocess.run(
        [str(DEVSTACK), "env"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    env: dict[str, str] = {}
    for line in out.splitlines():
        line = line.removeprefix("export ").strip()
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            env[k.strip()] = v.strip().strip('"').strip("'")
    return env


# --- the LLM: tests/openai_stub.py's OpenAI-compatible server, with a fixed TTFT -------------


class LLMStub:
    """The OpenAI-compatible stub in a thread of the harness (own event loop); every request
    waits `ttft_ms` before its first chunk, as a cloud LLM's time to first token."""

    REPLY = "Of course. What day would suit you?"

    def __init__(self, ttft_ms: float) -> None:
        self.ttft_s = ttft_ms / 1000
        self.url = ""
        self.requests = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="llm-stub")

    def script(self, body: dict[str, Any]) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
        """The reply to one request: (text, tool calls). Here always the same sentence."""
        return self.REPLY, []

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        from aiohttp import web
        from tests.openai_stub import OpenAIStub, StubReply

        stub = OpenAIStub(replies=[])

        async def chat(request: web.Request) -> web.StreamResponse:
            self.requests += 1
            text, tools = self.script(await request.json())
            await asyncio.sleep(self.ttft_s)
            # set and taken with no await between: concurrent requests never swap replies
            stub.replies[:] = [StubReply(text=text, tool_calls=tools)]
            return await stub._chat(request)

        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def start(self) -> LLMStub:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the LLM stub did not start")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


# --- a worker: `callcrew start` as a subprocess ----------------------------------------------

# Provider keys and the developer's own settings never reach a bench worker.
_DROP = ("DEEPGRAM_API_KEY", "OPENAI_API_KEY", "CARTESIA_API_KEY", "ELEVENLABS_API_KEY",
         "BUSINESS_PROFILE", "TASK_AGENT", "CREW", "PROMPTS_DIR", "CRM_WEBHOOK_URL",
         "PRICES_FILE", "DATABASE_URL")  # fmt: skip


@dataclass
class WorkerProc:
    proc: subprocess.Popen[bytes]
    log: Path
    home: Path

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def count(self, needle: str) -> int:
        return self.log_text().count(needle)

    def stop(self, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # its job processes, if any are left
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)


def start_worker(
    home: Path, env_extra: dict[str, str], ready_timeout: float = 120, *, bare: bool = False
) -> WorkerProc:
    """`callcrew start`, or (`bare`) LiveKit's minimal agent with the same fakes
    (bench/load_bare.py)."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env.update(
        PYTHONPATH=f"{ROOT / 'src'}:{ROOT}",
        PYTHONUNBUFFERED="1",
        HF_HUB_OFFLINE="1",
        DATABASE_URL=f"sqlite:///{home / 'calls.db'}",
        REPORTS_DIR=str(home / "reports"),
        LOG_LEVEL="INFO",
        WORKER_PORT="0",  # two workers in one namespace: no fixed health port
    )
    env.update(env_extra)
    callcrew = Path(sys.executable).with_name("callcrew")
    argv = [sys.executable, "-m", "bench.load_bare", "start"] if bare else [str(callcrew), "start"]
    log = home / "worker.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            cwd=home,  # no .env of the developer's is read
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = WorkerProc(proc, log, home)
    deadline = time.monotonic() + ready_timeout
    try:
        while "registered worker" not in worker.log_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(worker.log_text().splitlines()[-30:])
                raise RuntimeError(f"the worker did not register:\n{tail}")
            time.sleep(0.2)
    except BaseException:  # Ctrl-C included: never leave a worker behind
        worker.stop()
        raise
    return worker


def settle(seconds: float) -> None:
    """Let the idle job processes start and warm up before a measurement."""
    time.sleep(seconds)


def describe(env: dict[str, str]) -> dict[str, Any]:
    keys = ("STACK", "STT", "LLM", "TTS", "JOB_EXECUTOR", "NUM_IDLE_PROCESSES",
            "WORKER_MAX_CALLS", "WORKER_LOAD_THRESHOLD", "WORKER_CPU_FULL")  # fmt: skip
    return {k: env[k] for k in keys if k in env}
