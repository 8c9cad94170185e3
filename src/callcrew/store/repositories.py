"""The engine's repositories (call reports) and `Sessions`, which crews' repositories share.

Synchronous, one short transaction per call, frozen records out.

Async agent tools call these through `asyncio.to_thread`. ORM objects never leave this module,
so nothing outside can lazy-load on a closed session or mutate a row by accident.
"""

from __future__ import annotations

import builtins
import contextlib
import enum
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import PurePath
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from callcrew.store.engine import WRITE, is_memory, lock_for_write
from callcrew.store.errors import StoreBusy
from callcrew.store.limits import check_lengths
from callcrew.store.models import CallReportRow

Clock = Callable[[], datetime]


def aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value.isoformat()}")
    return value.astimezone(UTC)


class Sessions:
    """Short transactions against one engine, split into reads and writes.

    Writes run on connections marked `WRITE`, which on SQLite begin with BEGIN IMMEDIATE and on
    Postgres take the advisory lock, so a check-then-write inside one is atomic. An in-memory
    SQLite database is a single shared connection, so there every transaction is serialised
    by a lock in this process instead.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(
            engine.execution_options(**{WRITE: True}), expire_on_commit=False
        )
        self._guard: threading.RLock | None = threading.RLock() if is_memory(engine) else None

    @contextlib.contextmanager
    def _guarded(self) -> Iterator[None]:
        if self._guard is None:
            yield
        else:
            with self._guard:
                yield

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with self._guarded(), self._read() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        try:
            with self._guarded(), self._write() as session, session.begin():
                lock_for_write(session.connection())
                yield session
        except OperationalError as exc:
            # SQLite gave up waiting for the write lock (busy_timeout): nothing was written.
            if "locked" in str(exc.orig):
                raise StoreBusy() from exc
            raise


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable in a call report")


def _parse_time(value: Any, key: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"report[{key!r}] is not an ISO time: {value!r}") from None
    else:
        raise ValueError(f"report[{key!r}] must be an ISO time string, got {type(value).__name__}")
    # Reports are written by our own code in UTC; a naive time is taken to be UTC.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _stack_name(value: Any) -> str | None:
    text = _opt_str(value)
    return None if text is None else text.split(":", 1)[0].strip()[:64] or None


class ReportRepository:
    """Call reports: the whole report as JSON plus a few columns to filter on."""

    def __init__(self, sessions: Sessions) -> None:
        self._s = sessions

    def save(self, report: dict[str, Any]) -> None:
        """Insert or replace the report with this `call_id`."""
        call_id = report.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            raise ValueError("a call report needs a non-empty string call_id")
        # Round-trip through JSON so the stored document is exactly what `get` returns.
        document: dict[str, Any] = json.loads(json.dumps(report, default=_json_default))
        values: dict[str, Any] = {
            "call_id": call_id,
            "room": _opt_str(report.get("room")),
            "channel": _opt_str(report.get("channel")),
            "caller_number": _opt_str(report.get("caller_number")),
            "started_at": _parse_time(report.get("started_at"), "started_at"),
            "ended_at": _parse_time(report.get("ended_at"), "ended_at"),
            "outcome": _opt_str(report.get("outcome")),
            # The report's stack is a description ("economy: STT deepgram/nova-3, LLM ..."); the
            # column keeps the stack's name (VARCHAR(64), which Postgres enforces).
            "stack": _stack_name(report.get("stack")),
            "report": document,
        }
        check_lengths(CallReportRow.__table__, values)  # type: ignore[arg-type]
        with self._s.write() as s:
            dialect = s.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            stmt = insert(CallReportRow).values(**values)
            updates = {k: stmt.excluded[k] for k in values if k != "call_id"}
            s.execute(stmt.on_conflict_do_update(index_elements=["call_id"], set_=updates))

    def get(self, call_id: str) -> dict[str, Any] | None:
        with self._s.read() as s:
            row = s.get(CallReportRow, call_id)
            return dict(row.report) if row else None

    def list(
        self,
        since: datetime | None = None,
        outcome: str | None = None,
        limit: int = 100,
        *,
        channel: str | None = None,
    ) -> builtins.list[dict[str, Any]]:
        """Reports newest first; `since` compares with the call's start time."""
        query = select(CallReportRow.report)
        if since is not None:
            query = query.where(CallReportRow.started_at >= aware(since, "since"))
        if outcome is not None:
            query = query.where(CallReportRow.outcome == outcome)
        if channel is not None:
            query = query.where(CallReportRow.channel == channel)
        query = query.order_by(
            CallReportRow.started_at.desc().nulls_last(), CallReportRow.call_id
        ).limit(max(0, limit))
        with self._s.read() as s:
            return [dict(doc) for doc in s.scalars(query)]
