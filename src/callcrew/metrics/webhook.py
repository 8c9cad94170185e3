"""The CRM webhook: every call report POSTed, signed, to CRM_WEBHOOK_URL, at least once.

The report is put in the store's outbox *before* the first attempt, so a worker that dies
mid-delivery loses nothing: `retry_outbox` (run by the worker on a timer, at start and after
each call) sends whatever is still due. Each request carries

    Content-Type: application/json
    X-Callcrew-Event: call.report
    X-Callcrew-Timestamp: <unix seconds when sent>
    X-Callcrew-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>", key CRM_WEBHOOK_SECRET>

The timestamp is inside the signed text (the Stripe and Slack convention), so a captured
request cannot be replayed later with a fresh timestamp: `verify_signature` rejects one older
(or newer) than its tolerance, 5 minutes by default. A worker refuses to start with
CRM_WEBHOOK_URL and no secret unless CRM_WEBHOOK_ALLOW_UNSIGNED=true.

Any 2xx is success. Delivery is at least once: a receiver should treat the report's `call_id`
as the idempotency key. Workers sharing a store *claim* an item before sending it (see
`store/outbox.py`), so each report is POSTed once unless a worker dies mid-send.

Failures are retried with exponential backoff: a few immediate tries (0.5 s, 1 s, ... with
jitter), then from the outbox at growing intervals (1 min, 2 min, 4 min, ... capped), until
CRM_WEBHOOK_MAX_ATTEMPTS tries in all; then the item is parked (kept, never due again) with its
last error, until `callcrew outbox retry` re-drives it. Logs and stored errors name the URL's
host and the HTTP status, never the secret, the path or the payload.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from callcrew.settings import Settings
from callcrew.store import PARKED_UNTIL, OutboxRecord, Store

logger = logging.getLogger("callcrew.webhook")

KIND = "crm_report"
EVENT = "call.report"
SIGNATURE_HEADER = "X-Callcrew-Signature"
TIMESTAMP_HEADER = "X-Callcrew-Timestamp"
EVENT_HEADER = "X-Callcrew-Event"
DEFAULT_TOLERANCE_S = 300.0

__all__ = ["PARKED_UNTIL", "RetryPolicy", "deliver_report", "retry_outbox", "verify_signature"]

# Stores with a retry_outbox round running in this process: a timer tick that finds one
# running skips instead of stacking rounds.
_rounds_running: set[str] = set()


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Tests shrink the delays; the defaults suit a real CRM."""

    immediate_tries: int = 3  # tries inside deliver_report before leaving it to the outbox
    base_s: float = 0.5  # wait before the 2nd immediate try; doubles each time
    factor: float = 2.0
    jitter: float = 0.2  # each wait is scaled by a random factor in [1 - jitter, 1 + jitter]
    outbox_base_s: float = 60.0  # wait before the first retry from the outbox; doubles
    outbox_max_s: float = 6 * 3600.0
    timeout_s: float = 10.0  # per request
    batch: int = 50  # outbox items per retry_outbox round
    # How long a claimed item is ours alone; longer than the immediate tries take (3 x 10 s
    # + waits), so only a worker that died mid-send lets another one send it again.
    lease_s: float = 300.0

    def _jittered(self, seconds: float, rng: Callable[[], float]) -> float:
        return max(0.0, seconds * (1 + self.jitter * (2 * rng() - 1)))

    def immediate_delay(self, tries_done: int, rng: Callable[[], float] = random.random) -> float:
        """Wait after the `tries_done`-th failed immediate try (1-based)."""
        return self._jittered(self.base_s * self.factor ** (tries_done - 1), rng)

    def outbox_delay(self, attempts: int, rng: Callable[[], float] = random.random) -> float:
        """Wait before the next outbox try, after `attempts` failed tries in all."""
        later = max(0, attempts - self.immediate_tries)
        return self._jittered(min(self.outbox_max_s, self.outbox_base_s * self.factor**later), rng)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_s)


DEFAULT_POLICY = RetryPolicy()


# --- signing ---------------------------------------------------------------------------------


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def _signed_text(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode("ascii") + b"." + body


def sign(secret: str | bytes, timestamp: str | int, body: bytes) -> str:
    """The X-Callcrew-Signature value: `sha256=<hex HMAC of "<timestamp>.<body>">`."""
    text = _signed_text(str(timestamp), body)
    return "sha256=" + hmac.new(_key(secret), text, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str | bytes,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """For receivers: do these headers (X-Callcrew-Signature, X-Callcrew-Timestamp) sign these
    exact bytes, and is the timestamp within `tolerance_s` seconds of `now`?

    Verify the raw request body before parsing it; re-serialised JSON will not match. A stale
    timestamp is refused even with a valid signature: that is a replayed request.
    """
    if not signature or not secret or not timestamp:
        return False
    stamp = timestamp.strip()
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        return False
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > tolerance_s:
        return False
    scheme, _, digest = signature.strip().partition("=")
    if scheme.strip().lower() != "sha256" or not digest:
        return False
    text = _signed_text(stamp, body)
    expected = hmac.new(_key(secret), text, hashlib.sha256).hexdigest().encode("ascii")
    return hmac.compare_digest(expected, digest.strip().lower().encode("utf-8", "replace"))


def webhook_problems(settings: Settings) -> list[str]:
    """Why a worker must not start with this webhook configuration (empty when it may)."""
    if not settings.crm_webhook_url:
        return []
    secret = settings.crm_webhook_secret.get_secret_value() if settings.crm_webhook_secret else ""
    if secret or settings.crm_webhook_allow_unsigned:
        return []
    return [
        "CRM_WEBHOOK_URL is set but CRM_WEBHOOK_SECRET is not: the CRM could not tell our "
        "reports from forged ones. Set a secret, or CRM_WEBHOOK_ALLOW_UNSIGNED=true to send "
        "them unsigned on purpose"
    ]


def body_of(payload: dict[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed) for a report; the same on every retry."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _host(url: str) -> str:
    """Where the webhook goes, for logs: host[:port], nothing else (no credentials, no path)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "?"


# --- one try ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    error: str | None = None
    retry_soon: bool = True  # False: the receiver refused this item (4xx), others may pass


async def _post_once(
    http: aiohttp.ClientSession, settings: Settings, payload: dict[str, Any]
) -> _Outcome:
    url = settings.crm_webhook_url
    assert url is not None
    host = _host(url)
    body = body_of(payload)
    stamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", EVENT_HEADER: EVENT, TIMESTAMP_HEADER: stamp}
    secret = settings.crm_webhook_secret.get_secret_value() if settings.crm_webhook_secret else ""
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, stamp, body)
    try:
        async with http.post(url, data=body, headers=headers, allow_redirects=False) as resp:
            status = resp.status
    except TimeoutError:
        return _Outcome(False, f"no answer from {host} in time")
    except aiohttp.ClientError as exc:
        # The exception's text can carry the full URL; its type is enough to act on.
        return _Outcome(False, f"cannot reach {host} ({type(exc).__name__})")
    if 200 <= status < 300:
        return _Outcome(True)
    refused = 400 <= status < 500 and status not in (408, 425, 429)
    return _Outcome(False, f"HTTP {status} from {host}", retry_soon=not refused)


def _session(policy: RetryPolicy) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=policy.timeout_s))


async def _record_failure(
    store: Store,
    settings: Settings,
    policy: RetryPolicy,
    item_id: int,
    attempts_before: int,
    error: str,
    call_id: Any,
    now: datetime | None = None,
) -> None:
    attempts = attempts_before + 1
    when = now or datetime.now(UTC)
    if attempts >= settings.crm_webhook_max_attempts:
        error = f"gave up after {attempts} attempts: {error}"
        await asyncio.to_thread(store.outbox.mark_failed, item_id, error, PARKED_UNTIL)
        logger.error("CRM webhook: report %s not delivered, %s", call_id, error)
        return
    next_at = when + timedelta(seconds=policy.outbox_delay(attempts))
    await asyncio.to_thread(store.outbox.mark_failed, item_id, error, next_at)
    logger.warning(
        "CRM webhook: report %s attempt %d failed (%s); next try after %s",
        call_id,
        attempts,
        error,
        next_at.isoformat(timespec="seconds"),
    )


# --- the entry points ------------------------------------------------------------------------


async def deliver_report(
    store: Store,
    settings: Settings,
    report: dict[str, Any],
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    queued_id: int | None = None,
) -> bool:
    """Queue the report in the outbox (claimed by us), then POST it with a few immediate tries.

    `queued_id`: the report is already in the outbox under this id (claimed by the caller),
    see `queue_report`. True when delivered now; False when no webhook is configured, or when
    it is left in the outbox for `retry_outbox`. Never raises: a CRM problem must not break
    the end of a call.
    """
    if not settings.crm_webhook_url:
        return False
    call_id = report.get("call_id")
    item_id = queued_id
    if item_id is None:
        try:
            item_id = await queue_report(store, report, policy=policy)
        except Exception as exc:
            logger.error("CRM webhook: report %s not queued (%s)", call_id, type(exc).__name__)
            return False
    try:
        record = await asyncio.to_thread(store.outbox.get, item_id)
        assert record is not None
        result = await _deliver_item(store, settings, policy, record, immediate=True)
        return result.ok
    except Exception as exc:
        logger.error("CRM webhook: report %s left in the outbox (%s)", call_id, type(exc).__name__)
        return False


async def queue_report(
    store: Store, report: dict[str, Any], *, policy: RetryPolicy = DEFAULT_POLICY
) -> int:
    """Put a report in the outbox, born claimed by this process for the policy's lease (so no
    other worker's round sends it while we try it at once). Raises the store's errors."""
    return await asyncio.to_thread(store.outbox.add, KIND, report, lease=policy.lease)


async def _deliver_item(
    store: Store,
    settings: Settings,
    policy: RetryPolicy,
    record: OutboxRecord,
    *,
    immediate: bool,
    http: aiohttp.ClientSession | None = None,
    now: datetime | None = None,
) -> _Outcome:
    """Try one claimed outbox item (up to `immediate_tries` times when `immediate`) and record
    the result."""
    call_id = record.payload.get("call_id")
    attempts = record.attempts
    tries = max(1, policy.immediate_tries) if immediate else 1
    own = http is None
    session = http or _session(policy)
    try:
        for n in range(1, tries + 1):
            result = await _post_once(session, settings, record.payload)
            if result.ok:
                await asyncio.to_thread(
                    store.outbox.mark_delivered, record.id, now or datetime.now(UTC)
                )
                logger.info(
                    "CRM webhook: report %s delivered to %s (attempt %d)",
                    call_id,
                    _host(settings.crm_webhook_url or ""),
                    attempts + 1,
                )
                return result
            assert result.error is not None
            await _record_failure(
                store, settings, policy, record.id, attempts, result.error, call_id, now
            )
            attempts += 1
            if attempts >= settings.crm_webhook_max_attempts or not result.retry_soon:
                return result
            if n < tries:
                await asyncio.sleep(policy.immediate_delay(n))
        return result
    finally:
        if own:
            await session.close()


async def retry_outbox(
    store: Store,
    settings: Settings,
    now: datetime | None = None,
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> int:
    """Send every report that is due in the outbox, one try each; returns how many went.

    Items are claimed one at a time, so several workers sharing the store split the work and
    never send the same item twice. The round stops at the first failure that looks like the
    endpoint being down (network, timeout, 5xx, 429), so a dead CRM costs one timeout per
    round, not one per item. Never raises; returns 0 at once when a round for this store is
    already running in this process.
    """
    if not settings.crm_webhook_url or store.url in _rounds_running:
        return 0
    _rounds_running.add(store.url)
    delivered = 0
    try:
        async with _session(policy) as http:
            for _ in range(max(0, policy.batch)):
                when = now or datetime.now(UTC)
                claimed = await asyncio.to_thread(
                    store.outbox.claim, when, policy.lease, 1, kind=KIND
                )
                if not claimed:
                    break
                record = claimed[0]
                if record.attempts >= settings.crm_webhook_max_attempts:
                    # The limit was lowered since this item last failed: park it now.
                    error = f"gave up after {record.attempts} attempts: {record.last_error}"
                    await asyncio.to_thread(store.outbox.park, record.id, error)
                    continue
                result = await _deliver_item(
                    store, settings, policy, record, immediate=False, http=http, now=now
                )
                if result.ok:
                    delivered += 1
                elif result.retry_soon:
                    break  # the endpoint looks down: the rest wait for the next round
    except Exception as exc:
        logger.error("CRM webhook: outbox round stopped (%s)", type(exc).__name__)
    finally:
        _rounds_running.discard(store.url)
    return delivered
