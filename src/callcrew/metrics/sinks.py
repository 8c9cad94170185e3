"""Where a finished call's report goes: its file, the store, the CRM outbox; none skips another.

The order is fixed and each sink runs whatever happened to the one before:

1. `REPORTS_DIR/<call_id>.json`, written atomically (temp file + rename), first: the file is
   the copy that needs nothing but a disk, and whoever sees the store row can read it.
   Beside it, `REPORTS_DIR/.pending/<call_id>` names the sinks still owed.
2. The store row, then (an optional `enrich` step, e.g. the post-call analysis, which updates
   row and file) 3. the outbox entry for the CRM webhook (when CRM_WEBHOOK_URL is set). A
   busy store (another writer holds SQLite's write lock, or a Postgres row lock, past the
   busy timeout) or a lost connection is retried with backoff within REPORT_SAVE_RETRY_S; a
   failed save never stops the outbox entry from being tried.
4. The immediate webhook POSTs, once the outbox entry exists.

When every sink has its copy the `.pending` marker goes. If the process dies first (SIGKILL,
the session-end timeout, a store down for longer than the budget), `recover_pending` at the
next start finishes the job from the file: the row is upserted and the outbox entry added,
so the report still reaches everything (the CRM may see it twice: delivery is at least once,
keyed by `call_id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from callcrew.metrics.webhook import (
    DEFAULT_POLICY,
    RetryPolicy,
    deliver_report,
    queue_report,
    retry_outbox,
)
from callcrew.settings import Settings
from callcrew.store import Store, StoreBusy

logger = logging.getLogger("callcrew.reports")

PENDING = ".pending"
DB = "store"
OUTBOX = "outbox"


@dataclass(frozen=True)
class SavePolicy:
    """Backoff for a busy store at the end of a call (the total comes from the settings)."""

    first_s: float = 0.25
    factor: float = 2.0
    max_s: float = 5.0


@dataclass
class Persisted:
    """What became of one report: which sinks have it, and what went wrong on the way."""

    call_id: str
    file: Path | None = None
    stored: bool = False
    queued: bool = False
    delivered: bool = False
    problems: list[str] = field(default_factory=list)


def _retryable(exc: BaseException) -> bool:
    # StoreBusy: SQLite's busy timeout ran out. OperationalError / InterfaceError: the driver
    # lost the server, or a lock wait timed out or deadlocked (Postgres). Anything else (a
    # value the database refuses) fails the same way every time, so it is not retried.
    return isinstance(exc, StoreBusy | OperationalError | InterfaceError)


def write_file(reports_dir: Path, report: dict[str, Any]) -> Path:
    """`<reports_dir>/<call_id>.json`, whole or not at all (a reader never sees half a file)."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / f"{report['call_id']}.json"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str))
    os.replace(tmp, path)
    return path


def _marker(reports_dir: Path, call_id: str) -> Path:
    return reports_dir / PENDING / call_id


def _mark(reports_dir: Path, call_id: str, owed: list[str]) -> None:
    marker = _marker(reports_dir, call_id)
    try:
        if owed:
            marker.parent.mkdir(parents=True, exist_ok=True)
            # Who owes it: recovery can tell a dead process's report from a live one's.
            marker.write_text(" ".join(owed) + f"\npid {os.getpid()} {socket.gethostname()}\n")
        else:
            marker.unlink(missing_ok=True)
    except OSError as exc:  # the marker only speeds up recovery; the sinks matter
        logger.warning("report %s: pending marker not updated (%s)", call_id, exc)


async def _with_backoff(
    what: str,
    call_id: str,
    attempt: Callable[[], Awaitable[Any]],
    deadline: float,
    policy: SavePolicy,
) -> tuple[bool, Any, str | None]:
    """Run `attempt` until it succeeds, fails for good, or the deadline passes."""
    delay = policy.first_s
    tries = 0
    while True:
        tries += 1
        try:
            return True, await attempt(), None
        except Exception as exc:
            error = f"{what}: {type(exc).__name__}"
            if isinstance(exc, StoreBusy):
                error = f"{what}: the store stayed busy"
            if not _retryable(exc) or time.monotonic() + delay > deadline:
                logger.error("report %s: %s after %d tries", call_id, error, tries)
                return False, None, f"{error} after {tries} tries"
            logger.warning("report %s: %s, retrying in %.2f s", call_id, error, delay)
            await asyncio.sleep(delay)
            delay = min(policy.max_s, delay * policy.factor)


async def persist_report(
    store: Store,
    settings: Settings,
    report: dict[str, Any],
    *,
    save_policy: SavePolicy = SavePolicy(),
    webhook_policy: RetryPolicy = DEFAULT_POLICY,
    deliver: bool = True,
    enrich: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
) -> Persisted:
    """Hand one report to every sink in order (see the module docstring). Never raises."""
    call_id = str(report["call_id"])
    done = Persisted(call_id)
    reports_dir = Path(settings.reports_dir)
    want_outbox = bool(settings.crm_webhook_url)
    try:
        done.file = await asyncio.to_thread(write_file, reports_dir, report)
    except Exception as exc:
        done.problems.append(f"report file: {type(exc).__name__}: {exc}")
        logger.error("report %s: file not written (%s)", call_id, exc)
    owed = [DB, *([OUTBOX] if want_outbox else [])]
    if done.file is not None:
        await asyncio.to_thread(_mark, reports_dir, call_id, owed)

    deadline = time.monotonic() + settings.report_save_retry_s
    queued_id: int | None = None

    async def save() -> None:
        await asyncio.to_thread(store.reports.save, report)

    async def queue() -> int:
        return await queue_report(store, report, policy=webhook_policy)

    done.stored, _, problem = await _with_backoff(
        "store save", call_id, save, deadline, save_policy
    )
    if problem:
        done.problems.append(problem)
    if enrich is not None:
        # e.g. the post-call analysis: updates the report (its row and file) before it is queued
        try:
            await enrich(report)
        except Exception as exc:
            done.problems.append(f"enrich: {type(exc).__name__}")
            logger.error("report %s: not enriched (%s)", call_id, type(exc).__name__)
    if want_outbox:
        # Tried whether or not the row was saved: a lost row must not also lose the delivery.
        done.queued, queued_id, problem = await _with_backoff(
            "outbox entry", call_id, queue, deadline, save_policy
        )
        if problem:
            done.problems.append(problem)
    owed = [s for s, ok in ((DB, done.stored), (OUTBOX, done.queued or not want_outbox)) if not ok]
    if done.file is not None:
        await asyncio.to_thread(_mark, reports_dir, call_id, owed)
    if owed:
        where = f"it is in {done.file}" if done.file else "it was not written anywhere"
        logger.error("report %s not yet in %s; %s", call_id, " or ".join(owed), where)
    if deliver and queued_id is not None:
        done.delivered = await deliver_report(
            store, settings, report, policy=webhook_policy, queued_id=queued_id
        )
    return done


def _owner_alive(marker_text: str) -> bool:
    """Is the process that wrote this marker still running (as far as this host can tell)?"""
    for line in marker_text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "pid" and parts[1].isdigit():
            if parts[2] != socket.gethostname():
                return True  # another machine's: only its age can tell
            pid = int(parts[1])
            if pid == os.getpid():
                return True
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
    return True


async def recover_pending(store: Store, settings: Settings, *, min_age_s: float = 0.0) -> int:
    """Finish what a dead process owed: every `.pending` report whose writer is gone, or that is
    at least `min_age_s` old (a live worker may still be retrying a younger one), gets its row
    and outbox entry (due now, for the next retry round). Returns how many were completed.
    Never raises."""
    reports_dir = Path(settings.reports_dir)
    folder = reports_dir / PENDING
    completed = 0
    try:
        markers = sorted(folder.iterdir()) if folder.is_dir() else []
    except OSError as exc:
        logger.error("pending reports not listed (%s)", exc)
        return 0
    for marker in markers:
        call_id = marker.name
        try:
            marker_text = marker.read_text()
            young = time.time() - marker.stat().st_mtime < min_age_s
            if young and _owner_alive(marker_text):
                continue
            owed = marker_text.splitlines()[0].split() if marker_text else []
            report = json.loads((reports_dir / f"{call_id}.json").read_text())
        except (OSError, ValueError) as exc:
            logger.error("pending report %s unreadable (%s); left in place", call_id, exc)
            continue
        try:
            if DB in owed:
                await asyncio.to_thread(store.reports.save, report)
            if OUTBOX in owed and settings.crm_webhook_url:
                # Due now, not claimed: whichever worker's round comes first sends it.
                await asyncio.to_thread(store.outbox.add, "crm_report", report)
        except Exception as exc:
            logger.error("pending report %s not recovered yet (%s)", call_id, type(exc).__name__)
            continue
        with contextlib.suppress(OSError):
            marker.unlink()
        completed += 1
        logger.info("report %s recovered from %s", call_id, reports_dir)
    return completed


async def upkeep(store: Store, settings: Settings, *, policy: RetryPolicy = DEFAULT_POLICY) -> None:
    """The worker's idle loop, until cancelled: finish reports a dead process left pending, and
    send what is due in the outbox, every CRM_WEBHOOK_RETRY_INTERVAL seconds (at start first)."""
    period = settings.crm_webhook_retry_interval or 30.0
    # A marker younger than a live worker's whole retry budget may still be its own.
    min_age = settings.report_save_retry_s + 30.0
    while True:
        try:
            await recover_pending(store, settings, min_age_s=min_age)
            if settings.crm_webhook_url and settings.crm_webhook_retry_interval > 0:
                await retry_outbox(store, settings, policy=policy)
        except Exception as exc:  # the loop must outlive any one bad round
            logger.error("report upkeep round failed (%s)", type(exc).__name__)
        await asyncio.sleep(period)
