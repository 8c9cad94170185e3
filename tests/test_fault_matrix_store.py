"""The fault matrix, store and delivery rows: a busy store at the end of a call, a CRM down
then up, a worker SIGKILLed mid-call or mid-save, and the next start.

Same style as tests/test_fault_matrix.py (the provider rows): each fault is injected at the
boundary, never by patching our functions: another connection holds SQLite's write lock (or a
Postgres row lock), the CRM is a local HTTP server answering 503, the worker is a real process
killed with SIGKILL. The call runs through the worker's own path (`worker.start_call` in
LiveKit's fake job context, `worker.on_session_end`) with the replay LLM. Each row asserts
what the caller heard, the outcome, the report (file and row) and the deliveries.
Postgres rows run on the session's throwaway cluster (the `pg` fixture in conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from livekit.agents.testing import fake_job_context
from sqlalchemy import create_engine, text

from callcrew import worker
from callcrew.call import CallInfo, Channel
from callcrew.metrics.sinks import PENDING, upkeep
from callcrew.metrics.webhook import RetryPolicy
from callcrew.settings import Settings
from callcrew.simulate.replay import ReplayLLM, ReplayScript
from callcrew.simulate.scenario import AgentStep
from callcrew.store import Store, open_store
from tests import pg_cluster

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
REPLY = "Of course, which day suits you?"
CALLER_LINE = "Hi, I'd like to book a haircut please"
SECRET = "matrix-crm-secret"


# --- the CRM: a local HTTP server, down (503) until told otherwise ----------------------------


@dataclass
class Crm:
    down: bool = False
    posts: list[str] = field(default_factory=list)  # call_id of every POST
    accepted: list[str] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        call_id = str(json.loads(await request.read())["call_id"])
        self.posts.append(call_id)
        if self.down:
            return web.Response(status=503)
        self.accepted.append(call_id)
        return web.Response(status=204)


@pytest.fixture
async def crm() -> AsyncIterator[Crm]:
    c = Crm()
    app = web.Application()
    app.router.add_post("/calls", c.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    c.url = f"http://{host}:{port}/calls"
    yield c
    await runner.cleanup()


# --- a call through the worker's path ---------------------------------------------------------


def _settings(tmp_path: Path, crm: Crm, database_url: str | None = None, **kw: Any) -> Settings:
    return Settings(
        database_url=database_url or f"sqlite:///{tmp_path / 'calls.db'}",
        reports_dir=tmp_path / "reports",
        phrase_cache_dir=None,
        crm_webhook_url=crm.url,
        crm_webhook_secret=SECRET,  # type: ignore[arg-type]
        **kw,
    )


@dataclass
class Call:
    info: CallInfo
    said: list[str]


async def run_call(
    settings: Settings,
    *,
    before_end: Callable[[CallInfo], Any] | None = None,
    during_end: Callable[[CallInfo], Awaitable[None]] | None = None,
) -> Call:
    """One inbound call: the greeting, one caller line, the reply; the caller hangs up.
    `before_end` runs once the conversation is over (the fault taking hold), `during_end`
    beside `on_session_end` (the fault acting on the ending)."""
    script = ReplayScript(turns={0: [AgentStep(say=REPLY)]})
    info = CallInfo(channel=Channel.INBOUND, room="matrix-room", caller_number="+15550142233")
    with fake_job_context() as ctx:
        run = await worker.start_call(
            ctx, info, settings, room=None, llm_override=ReplayLLM(script)
        )
        session = run.session
        assert session is not None
        if session.current_speech is not None:
            await session.current_speech.wait_for_playout()
        script.begin_turn(0)
        await session.run(user_input=CALLER_LINE)
        said = [
            m.text_content or ""
            for m in session.history.items
            if m.type == "message" and m.role == "assistant"
        ]
        await session.aclose()
        if before_end is not None:
            before_end(info)
        if during_end is None:
            await worker.on_session_end(ctx)
        else:
            await asyncio.gather(worker.on_session_end(ctx), during_end(info))
    return Call(info, said)


def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEEPGRAM_API_KEY", "OPENAI_API_KEY", "CARTESIA_API_KEY"):
        monkeypatch.setenv(name, "test-key-not-used")


async def _until(check: Any, timeout: float = 30.0) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if check():
            return True
        await asyncio.sleep(0.05)
    return bool(check())


def _assert_report_everywhere(store: Store, settings: Settings, crm: Crm, call: Call) -> None:
    """The caller heard the reply; the report is on disk, in the store, delivered once."""
    assert REPLY in call.said
    call_id = call.info.call_id
    on_disk = json.loads((Path(settings.reports_dir) / f"{call_id}.json").read_text())
    saved = store.reports.get(call_id)
    assert saved is not None and saved["outcome"] == on_disk["outcome"] == "caller_hung_up"
    assert saved["transcript"] == on_disk["transcript"]
    assert crm.accepted.count(call_id) == 1
    assert store.outbox.list() == []
    assert list((Path(settings.reports_dir) / PENDING).glob("*")) == []


# --- rows: a busy store at the end of the call ------------------------------------------------


class SqliteWriteLock:
    """Another writer holding the database's write lock (BEGIN IMMEDIATE) until released."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


class PostgresRowLock:
    """Another transaction holding a row lock on the call's report row (SELECT ... FOR UPDATE)
    until released; our upsert of that row waits for it."""

    def __init__(self, url: str, call_id: str) -> None:
        self.engine = create_engine(url)
        self.conn = self.engine.connect()
        self.tx = self.conn.begin()
        row = self.conn.execute(
            text("SELECT call_id FROM call_reports WHERE call_id = :c FOR UPDATE"), {"c": call_id}
        ).first()
        assert row is not None

    def release(self) -> None:
        self.tx.rollback()
        self.conn.close()
        self.engine.dispose()


@pytest.fixture
def pg_url(pg: pg_cluster.Cluster) -> Iterator[str]:
    """A fresh database in the session's throwaway Postgres cluster (conftest.py)."""
    name = pg.create_database()
    try:
        yield pg.url(name)
    finally:
        pg.drop_database(name)


async def _hold_then_release(
    lock: SqliteWriteLock | PostgresRowLock, settings: Settings, store: Store, call_id: str
) -> None:
    """The fault during the ending: the file lands, the row cannot, then the writer lets go."""
    file = Path(settings.reports_dir) / f"{call_id}.json"
    try:
        assert await _until(file.exists), "the report file never landed while the store was busy"
        await asyncio.sleep(0.3)  # the save is retrying (or waiting) now
        saved = await asyncio.to_thread(store.reports.get, call_id)
        assert saved is None or saved.get("provisional") == 1, "saved through the lock?"
    finally:
        lock.release()


async def test_store_busy_sqlite_write_lock_held_through_the_end_of_the_call(
    tmp_path: Path, crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    _keys(monkeypatch)
    settings = _settings(tmp_path, crm)
    store = worker.store_for(settings.database_url)
    locks: list[SqliteWriteLock] = []

    def take(_info: CallInfo) -> None:
        locks.append(SqliteWriteLock(tmp_path / "calls.db"))

    async def release_later(info: CallInfo) -> None:
        await _hold_then_release(locks[0], settings, store, info.call_id)

    call = await run_call(settings, before_end=take, during_end=release_later)
    _assert_report_everywhere(store, settings, crm, call)


async def test_store_busy_postgres_row_lock_held_through_the_end_of_the_call(
    tmp_path: Path, crm: Crm, monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    _keys(monkeypatch)
    settings = _settings(tmp_path, crm, database_url=pg_url)
    store = worker.store_for(pg_url)
    locks: list[PostgresRowLock] = []

    def take(info: CallInfo) -> None:
        # The row exists (as after an earlier save of this call); another transaction locks it.
        store.reports.save({"call_id": info.call_id, "room": "matrix-room", "provisional": 1})
        locks.append(PostgresRowLock(pg_url, info.call_id))

    async def release_later(info: CallInfo) -> None:
        await _hold_then_release(locks[0], settings, store, info.call_id)

    call = await run_call(settings, before_end=take, during_end=release_later)
    _assert_report_everywhere(store, settings, crm, call)


# --- rows: the CRM down, then up --------------------------------------------------------------


async def test_crm_down_then_up_the_idle_worker_delivers_without_a_new_call(
    tmp_path: Path, crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    _keys(monkeypatch)
    settings = _settings(tmp_path, crm, crm_webhook_retry_interval=0.1)
    crm.down = True
    call = await run_call(settings)
    store = worker.store_for(settings.database_url)
    # Every immediate try failed: the report waits in the outbox, the call ended normally.
    [waiting] = store.outbox.list()
    assert waiting.payload["call_id"] == call.info.call_id and waiting.attempts >= 1
    assert crm.accepted == []
    assert store.reports.get(call.info.call_id) is not None

    crm.down = False
    # The worker's idle loop (its main process runs it from start), no call in sight; the
    # item is made due now as the backoff would after its wait.
    store.outbox.requeue(waiting.created_at, ids=[waiting.id], reset_attempts=False)
    policy = RetryPolicy(outbox_base_s=0.05, jitter=0.0)
    idle = asyncio.create_task(upkeep(store, settings, policy=policy))
    try:
        # The CRM has the POST before the loop records it delivered: wait for both.
        assert await _until(lambda: bool(crm.accepted) and not store.outbox.list(), 20), crm.posts
    finally:
        idle.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await idle
    _assert_report_everywhere(store, settings, crm, call)
    assert len(crm.posts) == waiting.attempts + 1  # each failure once, then one success


# --- rows: the worker killed (SIGKILL), then the next start -----------------------------------

KILLED_WORKER = textwrap.dedent(
    """
    import asyncio, os, sys, threading
    sys.path[:0] = [{src!r}, {repo!r}]
    from datetime import UTC, datetime, timedelta
    from livekit.agents.testing import fake_job_context
    from callcrew import worker
    from callcrew.call import CallInfo, Channel
    from callcrew.settings import Settings
    from callcrew.simulate.replay import ReplayLLM, ReplayScript
    from callcrew.simulate.scenario import AgentStep

    for k in ("DEEPGRAM_API_KEY", "OPENAI_API_KEY", "CARTESIA_API_KEY"):
        os.environ[k] = "test-key-not-used"
    settings = Settings(**{settings!r})
    mode = {mode!r}

    def churn(store):
        # Writes all through the call, so the kill lands mid-transaction.
        customer = store.crew_data.customers.get_or_create("Kill Test", "+15550100999")
        t = datetime(2026, 6, 15, 13, 0, tzinfo=UTC)
        i = 0
        while True:
            start = t + timedelta(minutes=30 * i)
            try:
                end = start + timedelta(minutes=30)
                store.crew_data.appointments.book(customer.id, "haircut", start, end)
            except Exception:
                pass
            i += 1

    async def main():
        script = ReplayScript(turns={{0: [AgentStep(say={reply!r})]}})
        info = CallInfo(channel=Channel.INBOUND, room="matrix-room", caller_number="+15550142233")
        with fake_job_context() as ctx:
            run = await worker.start_call(ctx, info, settings, room=None,
                                          llm_override=ReplayLLM(script))
            session = run.session
            if session.current_speech is not None:
                await session.current_speech.wait_for_playout()
            script.begin_turn(0)
            await session.run(user_input={line!r})
            if mode == "mid-call":
                threading.Thread(target=churn, args=(run.store,), daemon=True).start()
                print("IN CALL", info.call_id, flush=True)
                await asyncio.sleep(3600)  # the caller is still on the line when we die
            await session.aclose()
            print("ENDING", info.call_id, flush=True)
            sys.stdin.readline()  # the test takes the store's write lock, then says go
            await worker.on_session_end(ctx)
            print("ENDED", flush=True)

    asyncio.run(main())
    """
)


def _spawn(settings: Settings, mode: str) -> subprocess.Popen[str]:
    values = {
        "database_url": settings.database_url,
        "reports_dir": str(settings.reports_dir),
        "phrase_cache_dir": None,
        "crm_webhook_url": settings.crm_webhook_url,
        "crm_webhook_secret": SECRET,
        "report_save_retry_s": settings.report_save_retry_s,
    }
    code = KILLED_WORKER.format(
        src=str(REPO / "src"),
        repo=str(REPO),
        settings=values,
        mode=mode,
        reply=REPLY,
        line=CALLER_LINE,
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _read_until(proc: subprocess.Popen[str], prefix: str, timeout: float = 120) -> str:
    found: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(prefix):
                found.append(line.split()[1] if len(line.split()) > 1 else "")
                return

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(timeout)
    assert found, f"the worker process never said {prefix!r} (exit {proc.poll()})"
    return found[0]


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL


def _integrity(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # Every booking the killed process committed is whole; none is half-written.
        bad = conn.execute(
            "SELECT count(*) FROM appointments WHERE end_at <= start_at OR customer_id NOT IN "
            "(SELECT id FROM customers)"
        ).fetchone()
        assert bad == (0,)
    finally:
        conn.close()


async def _next_start(store: Store, settings: Settings, crm: Crm, call_id: str) -> None:
    """What `callcrew start` runs first in its main process: the upkeep loop."""
    policy = RetryPolicy(outbox_base_s=0.05, jitter=0.0)
    idle = asyncio.create_task(upkeep(store, settings, policy=policy))
    try:
        # The CRM has the POST before the loop records it delivered: wait for both.
        assert await _until(lambda: call_id in crm.accepted and not store.outbox.list(), 60), (
            crm.posts
        )
    finally:
        idle.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await idle


async def test_worker_killed_mid_call_store_consistent_next_start_re_drives_the_outbox(
    tmp_path: Path, crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    _keys(monkeypatch)
    settings = _settings(tmp_path, crm, crm_webhook_retry_interval=0.1)
    # An earlier call, while the CRM was down: its report waits in the outbox.
    crm.down = True
    earlier = await run_call(settings)
    proc = _spawn(settings, "mid-call")
    try:
        _read_until(proc, "IN CALL")
        await asyncio.sleep(1.0)  # bookings are being written when the kill lands
        _kill(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    worker.store_for(settings.database_url).close()
    worker._STORES.clear()
    _integrity(tmp_path / "calls.db")

    crm.down = False
    store = open_store(settings.database_url)
    try:
        # The killed call left no report (it never ended); nothing else is lost.
        assert [r["call_id"] for r in store.reports.list()] == [earlier.info.call_id]
        [waiting] = store.outbox.list()
        store.outbox.requeue(waiting.created_at, ids=[waiting.id], reset_attempts=False)
        await _next_start(store, settings, crm, earlier.info.call_id)
        _assert_report_everywhere(store, settings, crm, earlier)
    finally:
        store.close()


async def test_worker_killed_while_saving_the_next_start_finishes_the_report(
    tmp_path: Path, crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    _keys(monkeypatch)
    settings = _settings(tmp_path, crm, report_save_retry_s=60.0)
    proc = _spawn(settings, "while-saving")
    lock: SqliteWriteLock | None = None
    try:
        call_id = _read_until(proc, "ENDING")
        lock = SqliteWriteLock(tmp_path / "calls.db")  # the store is busy for the ending
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        marker = Path(settings.reports_dir) / PENDING / call_id
        assert await _until(marker.exists, 60), "no pending marker while the store was busy"
        _kill(proc)  # mid-retry: the file and its marker exist, the row does not
    finally:
        if proc.poll() is None:
            proc.kill()
        if lock is not None:
            lock.release()
    _integrity(tmp_path / "calls.db")

    store = open_store(settings.database_url)
    try:
        assert store.reports.get(call_id) is None and store.outbox.list() == []
        await _next_start(store, settings, crm, call_id)
        saved = store.reports.get(call_id)
        assert saved is not None and saved["outcome"] == "caller_hung_up"
        said = [t["text"] for t in saved["transcript"] if t["role"] == "agent"]
        assert REPLY in said
        assert crm.accepted == [call_id]
        assert store.outbox.list() == [] and not marker.exists()
    finally:
        store.close()
