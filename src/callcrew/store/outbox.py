"""The outbox: messages waiting to leave the building (the CRM webhook), claimed once each.

Several workers may share one store, so an item is *claimed* before it is sent: the claim
moves its `next_attempt_at` forward by a lease in the same write transaction that found it
due. Other workers then see it as not due until the lease runs out, which it only does when
the claimant died mid-send (then someone else retries it: delivery stays at least once).
On SQLite the write transaction holds the database's write lock (BEGIN IMMEDIATE), which
makes select-then-update atomic; on Postgres the rows are selected `FOR UPDATE SKIP LOCKED`,
so concurrent claimers take disjoint rows instead of waiting for each other.

An item that used up its attempts is *parked*: kept with its last error, never due again,
until `requeue` makes it due now (`callcrew outbox retry`).
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from callcrew.store.errors import StoreError
from callcrew.store.models import OutboxItem
from callcrew.store.repositories import Clock, Sessions, _json_default, aware

# A parked item waits here: kept for inspection, never due again until requeued.
PARKED_UNTIL = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class OutboxRecord:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @property
    def parked(self) -> bool:
        return self.delivered_at is None and self.next_attempt_at >= PARKED_UNTIL


def _outbox(row: OutboxItem) -> OutboxRecord:
    return OutboxRecord(
        id=row.id,
        kind=row.kind,
        payload=dict(row.payload),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


class OutboxRepository:
    """At-least-once messages: add, claim what is due, mark the result, list, requeue."""

    def __init__(self, sessions: Sessions, clock: Clock) -> None:
        self._s = sessions
        self._clock = clock

    def add(self, kind: str, payload: dict[str, Any], *, lease: timedelta | None = None) -> int:
        """Queue a message; with `lease` it is born claimed by the caller for that long (the
        caller sends it at once, and nobody else may until the lease runs out)."""
        document: dict[str, Any] = json.loads(json.dumps(payload, default=_json_default))
        now = self._clock()
        with self._s.write() as s:
            row = OutboxItem(
                kind=kind,
                payload=document,
                attempts=0,
                next_attempt_at=now + lease if lease else now,
                created_at=now,
            )
            s.add(row)
            s.flush()
            return row.id

    def get(self, item_id: int) -> OutboxRecord | None:
        with self._s.read() as s:
            row = s.get(OutboxItem, item_id)
            return _outbox(row) if row else None

    def _due_query(self, now: datetime, limit: int, kind: str | None) -> Any:
        query = select(OutboxItem).where(
            and_(
                OutboxItem.delivered_at.is_(None),
                OutboxItem.next_attempt_at <= aware(now, "now"),
            )
        )
        if kind is not None:
            query = query.where(OutboxItem.kind == kind)
        return query.order_by(OutboxItem.next_attempt_at, OutboxItem.id).limit(max(0, limit))

    def due(self, now: datetime, limit: int = 50) -> builtins.list[OutboxRecord]:
        """What is due at `now` (a look only: nothing is claimed)."""
        with self._s.read() as s:
            return [_outbox(r) for r in s.scalars(self._due_query(now, limit, None))]

    def claim(
        self, now: datetime, lease: timedelta, limit: int = 50, *, kind: str | None = None
    ) -> builtins.list[OutboxRecord]:
        """Take up to `limit` due items for `lease`: no other claimer gets them meanwhile.

        The records returned carry the state before the claim (attempts, last error); their
        `next_attempt_at` is the end of the lease.
        """
        until = aware(now, "now") + lease
        with self._s.write() as s:
            query = self._due_query(now, limit, kind)
            if s.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = builtins.list(s.scalars(query))
            if not rows:
                return []
            s.execute(
                update(OutboxItem)
                .where(OutboxItem.id.in_([r.id for r in rows]))
                .values(next_attempt_at=until)
                .execution_options(synchronize_session=False)
            )
            return [_outbox(r) for r in rows]

    def _pending(self, s: Session, item_id: int) -> OutboxItem:
        row = s.get(OutboxItem, item_id)
        if row is None:
            raise StoreError(f"There is no outbox item {item_id}.")
        return row

    def mark_delivered(self, item_id: int, now: datetime) -> None:
        with self._s.write() as s:
            row = self._pending(s, item_id)
            row.attempts += 1
            row.delivered_at = aware(now, "now")

    def mark_failed(self, item_id: int, error: str, next_attempt_at: datetime) -> None:
        with self._s.write() as s:
            row = self._pending(s, item_id)
            row.attempts += 1
            row.last_error = error
            row.next_attempt_at = aware(next_attempt_at, "next_attempt_at")

    def park(self, item_id: int, error: str) -> None:
        """Stop retrying an item without counting another attempt (kept with `error`)."""
        with self._s.write() as s:
            row = self._pending(s, item_id)
            row.last_error = error
            row.next_attempt_at = PARKED_UNTIL

    def list(
        self, *, state: str = "pending", limit: int = 100, kind: str | None = None
    ) -> builtins.list[OutboxRecord]:
        """Undelivered items, oldest first. `state`: pending (all undelivered), parked, or
        waiting (undelivered and not parked)."""
        query = select(OutboxItem).where(OutboxItem.delivered_at.is_(None))
        if state == "parked":
            query = query.where(OutboxItem.next_attempt_at >= PARKED_UNTIL)
        elif state == "waiting":
            query = query.where(OutboxItem.next_attempt_at < PARKED_UNTIL)
        elif state != "pending":
            raise ValueError(f"unknown outbox state {state!r}: pending, parked or waiting")
        if kind is not None:
            query = query.where(OutboxItem.kind == kind)
        query = query.order_by(OutboxItem.created_at, OutboxItem.id).limit(max(0, limit))
        with self._s.read() as s:
            return [_outbox(r) for r in s.scalars(query)]

    def requeue(
        self, now: datetime, *, ids: builtins.list[int] | None = None, reset_attempts: bool = True
    ) -> int:
        """Make undelivered items due at `now` (all parked ones when `ids` is None); returns how
        many. With `reset_attempts` they get a full set of tries again."""
        values: dict[str, Any] = {"next_attempt_at": aware(now, "now")}
        if reset_attempts:
            values["attempts"] = 0
        stmt = update(OutboxItem).where(OutboxItem.delivered_at.is_(None))
        if ids is None:
            stmt = stmt.where(OutboxItem.next_attempt_at >= PARKED_UNTIL)
        else:
            stmt = stmt.where(OutboxItem.id.in_(ids))
        with self._s.write() as s:
            result = s.execute(stmt.values(**values).execution_options(synchronize_session=False))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
