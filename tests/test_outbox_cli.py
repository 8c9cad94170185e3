"""`callcrew outbox list | retry`: parked deliveries are visible and re-drivable.

A CRM that was down long enough parks a report; once it is back, `retry --all` sends it.
The CRM is a real local HTTP server run in a thread (the CLI runs its own event loop).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from typer.testing import CliRunner, Result

from callcrew.cli import app
from callcrew.store import PARKED_UNTIL, Store, open_store

pytestmark = pytest.mark.unit

runner = CliRunner()


class ThreadedCrm:
    """A CRM stand-in on its own loop in a thread: 503 while `down`, else 204."""

    def __init__(self) -> None:
        self.down = False
        self.posts: list[dict[str, Any]] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.down:
            return web.Response(status=503)
        self.posts.append(json.loads(body))
        return web.Response(status=204)

    async def _main(self) -> None:
        app_ = web.Application()
        app_.router.add_post("/calls", self._handle)
        r = web.AppRunner(app_)
        await r.setup()
        site = web.TCPSite(r, "127.0.0.1", 0)
        await site.start()
        host, port = r.addresses[0][:2]
        self.url = f"http://{host}:{port}/calls"
        self._ready.set()
        await self._stop.wait()
        await r.cleanup()

    def _run(self) -> None:
        self._loop.run_until_complete(self._main())

    def __enter__(self) -> ThreadedCrm:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture
def crm() -> Iterator[ThreadedCrm]:
    with ThreadedCrm() as c:
        yield c


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    with open_store(url) as s:
        yield s


def cli(*args: str) -> Result:
    return runner.invoke(app, ["outbox", *args], catch_exceptions=False)


def park(store: Store, call_id: str) -> int:
    item = store.outbox.add("crm_report", {"call_id": call_id})
    for _ in range(8):
        store.outbox.mark_failed(item, "HTTP 503 from 127.0.0.1:1", datetime.now(UTC))
    store.outbox.park(item, "gave up after 8 attempts: HTTP 503 from 127.0.0.1:1")
    return item


def test_list_shows_parked_and_waiting_deliveries(db: Store) -> None:
    assert "Nothing waiting" in cli("list").output
    parked = park(db, "call_parked")
    db.outbox.add("crm_report", {"call_id": "call_waiting"})
    result = cli("list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert any("call_parked" in x and "parked" in x and "gave up after 8" in x for x in lines)
    assert any("call_waiting" in x and "due" in x for x in lines)
    assert "2 undelivered, 1 parked" in result.output
    only = cli("list", "--parked")
    assert "call_parked" in only.output and "call_waiting" not in only.output
    assert str(parked) in only.output


def test_retry_all_re_drives_parked_deliveries_once_the_crm_is_back(
    db: Store, crm: ThreadedCrm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_WEBHOOK_URL", crm.url)
    monkeypatch.setenv("CRM_WEBHOOK_SECRET", "cli-secret")
    park(db, "call_a")
    park(db, "call_b")
    result = cli("retry", "--all")
    assert result.exit_code == 0, result.output
    assert "Requeued 2, delivered 2 now; 0 still undelivered." in result.output
    assert sorted(p["call_id"] for p in crm.posts) == ["call_a", "call_b"]
    assert db.outbox.list() == []


def test_retry_while_the_crm_is_still_down_keeps_the_items_and_exits_1(
    db: Store, crm: ThreadedCrm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_WEBHOOK_URL", crm.url)
    monkeypatch.setenv("CRM_WEBHOOK_SECRET", "cli-secret")
    crm.down = True
    item = park(db, "call_a")
    result = cli("retry", str(item))
    assert result.exit_code == 1
    assert "Requeued 1, delivered 0 now; 1 still undelivered." in result.output
    record = db.outbox.get(item)
    assert record is not None and not record.parked and record.attempts == 1


def test_retry_without_a_crm_here_only_requeues(db: Store) -> None:
    item = park(db, "call_a")
    result = cli("retry", "--all")
    assert result.exit_code == 0
    assert "Requeued 1" in result.output and "next outbox round" in result.output
    record = db.outbox.get(item)
    assert record is not None and record.next_attempt_at < PARKED_UNTIL


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Name the outbox ids to retry, or pass --all"),
        (("1", "--all"), "not both"),
        (("0",), "positive whole numbers"),
    ],
)
def test_retry_needs_ids_or_all(db: Store, args: tuple[str, ...], message: str) -> None:
    result = runner.invoke(app, ["outbox", "retry", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_retry_refuses_an_unsigned_webhook(db: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_WEBHOOK_URL", "http://127.0.0.1:1/calls")
    park(db, "call_a")
    result = runner.invoke(app, ["outbox", "retry", "--all"])
    assert result.exit_code == 2
    assert "CRM_WEBHOOK_SECRET is not" in result.output
