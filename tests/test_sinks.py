"""The report sinks: file first, then the store row and the outbox entry, each whatever the
others did; a busy store retried; what a dead process left pending finished at the next start.

The store is real SQLite; "busy" is another connection holding its write lock; the CRM is a
local HTTP server.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from callcrew.call import CallInfo, Channel
from callcrew.metrics.report import build_report
from callcrew.metrics.sinks import PENDING, SavePolicy, persist_report, recover_pending
from callcrew.metrics.webhook import RetryPolicy
from callcrew.settings import Settings
from callcrew.store import open_store

pytestmark = pytest.mark.unit

SECRET = "sink-secret"
FAST_SAVE = SavePolicy(first_s=0.05, factor=2.0, max_s=0.2)
FAST_HOOK = RetryPolicy(base_s=0.01, jitter=0.0, timeout_s=3.0)


class Crm:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append(json.loads(await request.read()))
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


def report(call_id: str = "call_sink01", **extra: Any) -> dict[str, Any]:
    started = datetime(2026, 6, 12, 13, 0, tzinfo=UTC)
    info = CallInfo(channel=Channel.WEB, room="web-1", call_id=call_id, started_at=started)
    r = build_report(
        None,
        info=info,
        history=None,
        usage=None,
        stack="economy",
        ended_at=started + timedelta(seconds=30),
    )
    r.update(extra)
    return r


def settings(tmp_path: Path, crm: Crm | None = None, **kw: Any) -> Settings:
    hook: dict[str, Any] = (
        {"crm_webhook_url": crm.url, "crm_webhook_secret": SECRET} if crm is not None else {}
    )
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'calls.db'}",
        reports_dir=tmp_path / "reports",
        **hook,
        **kw,
    )


async def test_every_sink_gets_the_report_and_nothing_is_left_pending(
    tmp_path: Path, crm: Crm
) -> None:
    s = settings(tmp_path, crm)
    with open_store(s.database_url) as store:
        done = await persist_report(store, s, report(), webhook_policy=FAST_HOOK)
        assert store.reports.get("call_sink01") is not None
        assert store.outbox.list() == []  # delivered
    assert (done.stored, done.queued, done.delivered, done.problems) == (True, True, True, [])
    assert done.file == tmp_path / "reports" / "call_sink01.json"
    assert json.loads(done.file.read_text())["call_id"] == "call_sink01"
    assert [p["call_id"] for p in crm.posts] == ["call_sink01"]
    assert not (tmp_path / "reports" / PENDING / "call_sink01").exists()


async def test_the_file_lands_before_the_row_and_a_busy_store_is_retried(
    tmp_path: Path, crm: Crm
) -> None:
    s = settings(tmp_path, crm)
    store = open_store(s.database_url)
    blocker = sqlite3.connect(tmp_path / "calls.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    try:
        task = asyncio.create_task(
            persist_report(store, s, report(), save_policy=FAST_SAVE, webhook_policy=FAST_HOOK)
        )
        file = tmp_path / "reports" / "call_sink01.json"
        marker = tmp_path / "reports" / PENDING / "call_sink01"
        # A bounded wait, generous for a loaded machine: the order is checked, not the speed.
        deadline = asyncio.get_running_loop().time() + 30
        while not file.exists() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        assert file.exists() and marker.read_text().splitlines()[0].split() == ["store", "outbox"]
        assert store.reports.get("call_sink01") is None  # readers still work; no row yet
        assert not task.done()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    done = await task
    assert done.stored and done.queued and done.delivered and not done.problems
    assert store.reports.get("call_sink01") is not None
    assert not marker.exists()
    assert [p["call_id"] for p in crm.posts] == ["call_sink01"]
    store.close()


async def test_the_outbox_entry_is_written_when_the_save_fails_for_good(
    tmp_path: Path, crm: Crm
) -> None:
    s = settings(tmp_path, crm)
    bad = report(started_at="sometime")  # the store refuses it, every time: not retried
    with open_store(s.database_url) as store:
        done = await persist_report(store, s, bad, save_policy=FAST_SAVE, webhook_policy=FAST_HOOK)
        assert store.reports.get("call_sink01") is None
    assert not done.stored and done.queued and done.delivered
    assert done.problems == ["store save: ValueError after 1 tries"]
    assert [p["call_id"] for p in crm.posts] == ["call_sink01"]
    marker = (tmp_path / "reports" / PENDING / "call_sink01").read_text()
    assert marker.splitlines()[0].split() == ["store"]


async def test_an_unwritable_reports_dir_skips_no_other_sink(tmp_path: Path, crm: Crm) -> None:
    (tmp_path / "reports").write_text("a file where the folder should be")
    s = settings(tmp_path, crm)
    with open_store(s.database_url) as store:
        done = await persist_report(store, s, report(), webhook_policy=FAST_HOOK)
        assert store.reports.get("call_sink01") is not None
    assert done.file is None and done.stored and done.delivered
    assert done.problems and done.problems[0].startswith("report file:")


async def test_the_file_is_whole_or_absent(tmp_path: Path) -> None:
    s = settings(tmp_path)
    with open_store(s.database_url) as store:
        await persist_report(store, s, report(blob="x" * 100_000))
    files = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert files == [PENDING, "call_sink01.json"]  # no temp file left behind
    assert list((tmp_path / "reports" / PENDING).iterdir()) == []


async def test_a_store_busy_past_the_budget_leaves_it_pending_then_recovery_finishes(
    tmp_path: Path, crm: Crm
) -> None:
    s = settings(tmp_path, crm, report_save_retry_s=0.0)
    store = open_store(s.database_url)
    blocker = sqlite3.connect(tmp_path / "calls.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        done = await persist_report(store, s, report(), save_policy=FAST_SAVE)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert not done.stored and not done.queued and done.file is not None
    assert crm.posts == []
    marker = tmp_path / "reports" / PENDING / "call_sink01"
    assert marker.read_text().splitlines()[0].split() == ["store", "outbox"]

    # A young marker of a live process (this one) may still be retried by it: left alone.
    assert await recover_pending(store, s, min_age_s=3600) == 0
    old = datetime.now(UTC).timestamp() - 7200
    os.utime(marker, (old, old))
    assert await recover_pending(store, s, min_age_s=3600) == 1
    assert store.reports.get("call_sink01") is not None
    [queued] = store.outbox.list()
    assert queued.payload["call_id"] == "call_sink01" and queued.attempts == 0
    assert not marker.exists()
    store.close()


async def test_a_dead_writers_marker_is_recovered_at_once(tmp_path: Path) -> None:
    s = settings(tmp_path)
    reports = tmp_path / "reports"
    (reports / PENDING).mkdir(parents=True)
    (reports / "call_dead.json").write_text(json.dumps(report("call_dead")))
    (reports / PENDING / "call_dead").write_text(
        f"store\npid {_dead_pid()} {socket.gethostname()}\n"
    )
    with open_store(s.database_url) as store:
        assert await recover_pending(store, s, min_age_s=3600) == 1
        assert store.reports.get("call_dead") is not None


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


async def test_recovery_leaves_an_unreadable_marker_alone(tmp_path: Path) -> None:
    s = settings(tmp_path)
    folder = tmp_path / "reports" / PENDING
    folder.mkdir(parents=True)
    (folder / "call_gone").write_text("store\n")  # its report file is missing
    with open_store(s.database_url) as store:
        assert await recover_pending(store, s) == 0
    assert (folder / "call_gone").exists()
