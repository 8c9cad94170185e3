"""The CRM webhook against a real local HTTP server: signing, retries, the outbox, restarts."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from callcrew.call import CallInfo, Channel
from callcrew.metrics.report import build_report
from callcrew.metrics.webhook import (
    PARKED_UNTIL,
    RetryPolicy,
    body_of,
    deliver_report,
    retry_outbox,
    sign,
    verify_signature,
    webhook_problems,
)
from callcrew.settings import Settings
from callcrew.store import Store, open_store

pytestmark = pytest.mark.unit

SECRET = "s3cret-never-logged"
FAST = RetryPolicy(base_s=0.01, jitter=0.0, outbox_base_s=60.0, timeout_s=3.0)


@dataclass
class Receiver:
    """A CRM stand-in: answers `fail_status` to the first `fail_first` requests, then 200."""

    fail_first: int = 0
    fail_status: int = 500
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((dict(request.headers), body))
        if len(self.requests) <= self.fail_first:
            return web.Response(status=self.fail_status, text="nope")
        # The receiver's side of the contract: verify the raw body before trusting it.
        if not verify(body, dict(request.headers)):
            return web.Response(status=401, text="bad signature")
        return web.Response(status=204)

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """The reports the receiver accepted (signature checked)."""
        return [json.loads(body) for headers, body in self.requests if verify(body, headers)][
            self.fail_first :
        ]


def verify(body: bytes, headers: dict[str, str]) -> bool:
    return verify_signature(
        SECRET, body, headers.get("X-Callcrew-Signature"), headers.get("X-Callcrew-Timestamp")
    )


async def _serve(receiver: Receiver) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/hooks/calls", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    receiver.url = f"http://{host}:{port}/hooks/calls?token=path-secret"
    return runner


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    runner = await _serve(r)
    yield r
    await runner.cleanup()


def dead_url() -> str:
    """A URL on a port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/calls"


def settings_for(url: str, **kw: Any) -> Settings:
    return Settings(crm_webhook_url=url, crm_webhook_secret=SECRET, **kw)


def report(call_id: str = "call_webhook01", **extra: Any) -> dict[str, Any]:
    started = datetime(2026, 6, 12, 13, 0, tzinfo=UTC)
    info = CallInfo(
        channel=Channel.INBOUND,
        room="room-1",
        call_id=call_id,
        caller_number="+15550142233",
        started_at=started,
    )
    r = build_report(
        None,
        info=info,
        history=None,
        usage=None,
        stack="economy",
        ended_at=started + timedelta(seconds=42),
        error="session crashed",
    )
    r.update(extra)
    return r


def our_logs(caplog: pytest.LogCaptureFixture) -> str:
    """What callcrew logged (the test server's own access log shows the path, of course)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("callcrew"))


def pending(store: Store) -> list[Any]:
    return store.outbox.due(datetime(9000, 1, 1, tzinfo=UTC))


# --- signing ---------------------------------------------------------------------------------


def test_signature_round_trip_and_tampering() -> None:
    body = body_of({"call_id": "call_1", "text": "héllo"})
    ts = "1781269200"
    now = 1781269200.0
    header = sign(SECRET, ts, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64

    def ok(secret: str | bytes, b: bytes, h: str | None, t: str | None = ts) -> bool:
        return verify_signature(secret, b, h, t, now=now)

    assert ok(SECRET, body, header)
    assert ok(SECRET.encode(), body, header.upper().replace("SHA256=", "sha256="))
    assert not ok(SECRET, body + b" ", header)
    assert not ok("other", body, header)
    assert not ok(SECRET, body, None)
    assert not ok(SECRET, body, "")
    assert not ok(SECRET, body, "md5=" + header[7:])
    assert not ok(SECRET, body, "sha256=")
    assert not ok("", body, header)
    assert not ok(SECRET, body, "sha256=é" + header[8:])
    assert not ok(SECRET, body, header, None)
    assert not ok(SECRET, body, header, "")
    assert not ok(SECRET, body, header, "1781269200.5")
    assert not ok(SECRET, body, header, "١٧٨١٢٦٩٢٠٠")  # digits, but not ASCII ones


def test_the_timestamp_is_signed_so_a_replay_cannot_refresh_it() -> None:
    body = body_of({"call_id": "call_1"})
    captured = sign(SECRET, "1781269200", body)
    later = 1781269200.0 + 3600
    # Replayed an hour later with its own timestamp: stale.
    assert not verify_signature(SECRET, body, captured, "1781269200", now=later)
    # ... and with a fresh timestamp the signature no longer matches.
    assert not verify_signature(SECRET, body, captured, str(int(later)), now=later)
    # The old body-only signature is not accepted either.
    body_only = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert not verify_signature(SECRET, body, body_only, "1781269200", now=1781269200.0)


@pytest.mark.parametrize(
    ("age_s", "tolerance_s", "accepted"),
    [(0, 300, True), (299, 300, True), (301, 300, False), (-301, 300, False), (600, 900, True)],
)
def test_stale_or_future_timestamps_are_refused(
    age_s: float, tolerance_s: float, accepted: bool
) -> None:
    body = body_of({"call_id": "call_1"})
    ts = "1781269200"
    header = sign(SECRET, ts, body)
    got = verify_signature(
        SECRET, body, header, ts, tolerance_s=tolerance_s, now=1781269200.0 + age_s
    )
    assert got is accepted


def test_default_tolerance_is_five_minutes() -> None:
    body = body_of({"call_id": "call_1"})
    ts = "1781269200"
    header = sign(SECRET, ts, body)
    assert verify_signature(SECRET, body, header, ts, now=1781269200.0 + 299)
    assert not verify_signature(SECRET, body, header, ts, now=1781269200.0 + 301)


def test_a_webhook_without_a_secret_is_refused_unless_allowed() -> None:
    assert webhook_problems(Settings()) == []
    assert webhook_problems(Settings(crm_webhook_url="https://crm.example/h")) != []
    [problem] = webhook_problems(Settings(crm_webhook_url="https://crm.example/h"))
    assert "CRM_WEBHOOK_SECRET" in problem and "CRM_WEBHOOK_ALLOW_UNSIGNED=true" in problem
    allowed = Settings(crm_webhook_url="https://crm.example/h", crm_webhook_allow_unsigned=True)
    assert webhook_problems(allowed) == []
    assert webhook_problems(settings_for("https://crm.example/h")) == []


# --- delivery --------------------------------------------------------------------------------


async def test_no_url_means_nothing_queued_or_sent(store: Store) -> None:
    assert await deliver_report(store, Settings(), report(), policy=FAST) is False
    assert pending(store) == []
    assert await retry_outbox(store, Settings(), policy=FAST) == 0


async def test_fails_twice_then_succeeds_signed(
    store: Store, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.fail_first = 2
    rep = report()
    assert await deliver_report(store, settings_for(receiver.url), rep, policy=FAST) is True

    assert len(receiver.requests) == 3
    headers, body = receiver.requests[-1]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Callcrew-Event"] == "call.report"
    assert abs(int(headers["X-Callcrew-Timestamp"]) - datetime.now(UTC).timestamp()) < 60
    assert verify(body, headers)
    # Every try sent the same bytes, so a retry verifies like the first.
    assert len({b for _, b in receiver.requests}) == 1
    assert receiver.delivered == [json.loads(json.dumps(rep))]

    assert pending(store) == []
    item = store.outbox.get(1)
    assert item is not None and item.delivered_at is not None and item.attempts == 3
    logged = our_logs(caplog)
    assert "delivered to 127.0.0.1:" in logged and "HTTP 500 from 127.0.0.1:" in logged
    assert SECRET not in logged and "session crashed" not in logged
    assert "path-secret" not in logged and "/hooks" not in logged


async def test_failure_path_report_is_delivered(store: Store, receiver: Receiver) -> None:
    """A call that failed before the crew existed (state None, an error) still reaches the CRM."""
    assert await deliver_report(store, settings_for(receiver.url), report(), policy=FAST)
    [got] = receiver.delivered
    assert got["outcome"] == "failed"
    assert got["ended_by"] == "error"
    assert got["errors"] == ["session crashed"]
    assert got["caller_number"] == "+15550142233"


async def test_still_failing_goes_to_the_outbox_with_backoff(
    store: Store, receiver: Receiver
) -> None:
    receiver.fail_first = 4
    settings = settings_for(receiver.url)
    before = datetime.now(UTC)
    assert await deliver_report(store, settings, report(), policy=FAST) is False
    assert len(receiver.requests) == 3  # the immediate tries
    [item] = pending(store)
    assert item.attempts == 3 and item.delivered_at is None
    host = receiver.url.split("/")[2]
    assert item.last_error == f"HTTP 500 from {host}"
    # The next try waits in the outbox: first deferred wait is outbox_base_s (no jitter here).
    assert before + timedelta(seconds=59) <= item.next_attempt_at
    assert item.next_attempt_at <= datetime.now(UTC) + timedelta(seconds=61)
    assert store.outbox.due(datetime.now(UTC)) == []
    assert await retry_outbox(store, settings, policy=FAST) == 0  # not due yet
    assert len(receiver.requests) == 3

    later = datetime.now(UTC) + timedelta(minutes=2)
    assert await retry_outbox(store, settings, later, policy=FAST) == 0  # 4th try: 500 again
    [item] = pending(store)
    assert item.attempts == 4
    # Backoff doubles: 120 s after the 4th failure.
    assert item.next_attempt_at == later + timedelta(seconds=120)
    assert await retry_outbox(store, settings, later + timedelta(hours=1), policy=FAST) == 1
    assert pending(store) == []
    assert len(receiver.delivered) == 1


async def test_server_down_keeps_the_item(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = dead_url()
    settings = settings_for(url)
    assert await deliver_report(store, settings, report(), policy=FAST) is False
    [item] = pending(store)
    assert item.delivered_at is None and item.attempts == 3
    assert item.last_error is not None and item.last_error.startswith("cannot reach 127.0.0.1:")
    assert await retry_outbox(store, settings, datetime.now(UTC) + timedelta(days=1)) == 0
    assert pending(store)[0].attempts == 4
    logged = our_logs(caplog)
    assert "cannot reach 127.0.0.1:" in logged
    assert SECRET not in logged and "session crashed" not in logged and "/hooks" not in logged


async def test_outbox_survives_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    first = open_store(url)
    try:
        assert not await deliver_report(first, settings_for(dead_url()), report(), policy=FAST)
    finally:
        first.close()  # the worker process dies here

    receiver = Receiver()
    runner = await _serve(receiver)
    second = open_store(url)
    try:
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        delivered = await retry_outbox(second, settings_for(receiver.url), tomorrow, policy=FAST)
        assert delivered == 1
        assert [r["call_id"] for r in receiver.delivered] == ["call_webhook01"]
        assert pending(second) == []
    finally:
        second.close()
        await runner.cleanup()


async def test_gives_up_after_max_attempts(store: Store, receiver: Receiver) -> None:
    receiver.fail_first = 100
    settings = settings_for(receiver.url, crm_webhook_max_attempts=2)
    assert not await deliver_report(store, settings, report(), policy=FAST)
    assert len(receiver.requests) == 2
    item = store.outbox.get(1)
    assert item is not None and item.delivered_at is None
    assert item.next_attempt_at == PARKED_UNTIL
    assert item.last_error is not None and item.last_error.startswith("gave up after 2 attempts")
    assert await retry_outbox(store, settings, datetime(9000, 1, 1, tzinfo=UTC)) == 0
    assert len(receiver.requests) == 2


async def test_refused_item_is_not_hammered_and_does_not_block_others(
    store: Store, receiver: Receiver
) -> None:
    receiver.fail_first, receiver.fail_status = 1, 422
    settings = settings_for(receiver.url)
    assert not await deliver_report(store, settings, report("call_a"), policy=FAST)
    assert len(receiver.requests) == 1  # a 4xx is not retried at once
    store.outbox.add("crm_report", report("call_b"))
    # A round tries both: the 4xx one again (now accepted), and the next one.
    later = datetime.now(UTC) + timedelta(hours=1)
    assert await retry_outbox(store, settings, later, policy=FAST) == 2
    assert sorted(r["call_id"] for r in receiver.delivered) == ["call_a", "call_b"]


async def test_a_dead_endpoint_costs_one_try_per_round(store: Store) -> None:
    for i in range(3):
        store.outbox.add("crm_report", report(f"call_{i}"))
    settings = settings_for(dead_url())
    assert await retry_outbox(store, settings, policy=FAST) == 0
    attempts = sorted(item.attempts for item in pending(store))
    assert attempts == [0, 0, 1]


async def test_unsigned_when_no_secret(store: Store, receiver: Receiver) -> None:
    settings = Settings(crm_webhook_url=receiver.url, crm_webhook_allow_unsigned=True)
    # The receiver insists on a signature, so an unsigned report is refused (401).
    assert not await deliver_report(store, settings, report(), policy=FAST)
    headers, _ = receiver.requests[0]
    assert "X-Callcrew-Signature" not in headers
    assert "X-Callcrew-Timestamp" in headers
