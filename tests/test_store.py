from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from agents.outcomes import DeskOutcome
from sqlalchemy import event, text

from callcrew.call import Outcome
from callcrew.store import (
    SCHEMA_VERSION,
    AppointmentNotActive,
    AppointmentNotFound,
    AppointmentRecord,
    CustomerExists,
    CustomerNotFound,
    SchemaTooNew,
    SlotTaken,
    Store,
    StoreBusy,
    StoreError,
    ValueTooLong,
    open_store,
)

pytestmark = pytest.mark.unit

NY = ZoneInfo("America/New_York")
CLOCK = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 6, 16, 13, 0, tzinfo=UTC)  # Tuesday 09:00 in New York


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    # Every test on `store` runs on SQLite and on Postgres (conftest's db_url).
    s = open_store(db_url, clock=lambda: CLOCK)
    yield s
    s.close()


@pytest.fixture
def ada(store: Store) -> int:
    return store.customers.create("Ada Lovelace", "+15551230001").id


@pytest.fixture
def bob(store: Store) -> int:
    return store.customers.create("Bob", "+15551230002").id


def raw(store: Store, sql: str) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.exec_driver_sql(sql).all())


# --- engine ---------------------------------------------------------------------------------


def test_creates_missing_parent_folder_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "callcrew.db"
    with open_store(sqlite_url(path)) as s:
        assert path.exists()
        with s.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


def test_schema_version_is_recorded_and_reopening_keeps_data(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "v.db")
    with open_store(url) as s:
        assert raw(s, "SELECT id, version FROM schema_version") == [(1, SCHEMA_VERSION)]
        s.customers.create("Ada", "+15551230001")
    with open_store(url) as s:
        assert raw(s, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
        found = s.customers.find_by_phone("+15551230001")
        assert found is not None and found.name == "Ada"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    open_store(sqlite_url(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaTooNew) as err:
        open_store(sqlite_url(path))
    message = str(err.value)
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert "upgrade callcrew" in message
    assert isinstance(err.value, StoreError)


def test_in_memory_store_is_shared_across_threads() -> None:
    with open_store("sqlite://") as s:
        customer = s.customers.create("Ada", "+15551230001")

        async def book_in_thread() -> AppointmentRecord:
            return await asyncio.to_thread(
                s.appointments.book, customer.id, "haircut", T0, T0 + minutes(30)
            )

        booked = asyncio.run(book_in_thread())
        assert s.appointments.get(booked.id) == booked
        with pytest.raises(SlotTaken):
            s.appointments.book(customer.id, "haircut", T0, T0 + minutes(30))


# --- customers ------------------------------------------------------------------------------


def test_customer_crud(store: Store) -> None:
    created = store.customers.create("  Ada   Lovelace ", "+15551230001")
    assert created.name == "Ada Lovelace"
    assert created.phone == "+15551230001"
    assert created.created_at == CLOCK
    assert store.customers.get(created.id) == created
    assert store.customers.find_by_phone("+15551230001") == created
    assert store.customers.find_by_phone("+15559999999") is None
    assert store.customers.get(9999) is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        created.name = "Eve"  # type: ignore[misc]

    renamed = store.customers.rename(created.id, "Ada King")
    assert renamed.name == "Ada King"
    assert store.customers.get(created.id) == renamed
    with pytest.raises(CustomerNotFound):
        store.customers.rename(9999, "Nobody")

    anonymous = store.customers.create("Walk-in")
    assert anonymous.phone is None
    assert store.customers.create("Walk-in").id != anonymous.id  # many customers without phone


def test_customer_validation(store: Store) -> None:
    store.customers.create("Ada", "+15551230001")
    with pytest.raises(CustomerExists, match="already have a customer"):
        store.customers.create("Someone else", "+15551230001")
    with pytest.raises(ValueError, match=r"E\.164"):
        store.customers.create("Ada", "555-1234")
    with pytest.raises(ValueError, match="name"):
        store.customers.create("   ", "+15551230009")


def test_get_or_create(store: Store) -> None:
    first = store.customers.get_or_create("Ada", "+15551230001")
    again = store.customers.get_or_create("Someone", "+15551230001")
    assert again == first
    assert again.name == "Ada"
    other = store.customers.get_or_create("Bob", "+15551230002")
    assert other.id != first.id
    assert store.customers.all() == [first, other]


# --- appointments ---------------------------------------------------------------------------


def test_book_and_read_back(store: Store, ada: int) -> None:
    booked = store.appointments.book(ada, "color", T0, T0 + minutes(90), call_id="call_1")
    assert booked.customer_id == ada
    assert booked.service_id == "color"
    assert booked.status == "booked" and booked.active
    assert booked.call_id == "call_1"
    assert (booked.start, booked.end) == (T0, T0 + minutes(90))
    assert booked.created_at == booked.updated_at == CLOCK
    assert store.appointments.get(booked.id) == booked
    assert store.appointments.get(9999) is None
    assert store.appointments.all() == [booked]


def test_times_round_trip_as_aware_utc(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "tz.db")
    start = datetime(2026, 6, 16, 9, 30, tzinfo=NY)
    with open_store(url) as s:
        customer = s.customers.create("Ada", "+15551230001")
        booked = s.appointments.book(customer.id, "haircut", start, start + minutes(30))
        assert booked.start == start
        assert booked.start.tzinfo == UTC
        assert booked.start.hour == 13
        stored = raw(s, "SELECT start_at FROM appointments")[0][0]
        assert stored.startswith("2026-06-16 13:30:00")
    with open_store(url) as s:
        again = s.appointments.get(booked.id)
        assert again is not None
        assert again.start.tzinfo == UTC
        assert again.start == start
        assert again.end - again.start == minutes(30)
        assert again.created_at.tzinfo == UTC


def test_book_rejects_bad_input(store: Store, ada: int) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.appointments.book(ada, "haircut", datetime(2026, 6, 16, 9), T0 + minutes(30))
    with pytest.raises(ValueError, match="end after it starts"):
        store.appointments.book(ada, "haircut", T0, T0)
    with pytest.raises(CustomerNotFound):
        store.appointments.book(9999, "haircut", T0, T0 + minutes(30))
    assert store.appointments.all() == []


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 60),  # identical
        (-30, 30),  # overlaps the start
        (30, 90),  # overlaps the end
        (15, 45),  # inside
        (-30, 90),  # around
    ],
)
def test_overlapping_booking_is_refused(
    store: Store, ada: int, bob: int, start: int, end: int
) -> None:
    store.appointments.book(ada, "color", T0, T0 + minutes(60))
    with pytest.raises(SlotTaken) as err:
        store.appointments.book(bob, "haircut", T0 + minutes(start), T0 + minutes(end))
    assert str(err.value) == "Sorry, that time has just been taken."
    assert len(store.appointments.all()) == 1


def test_touching_bookings_and_cancelled_ones_do_not_block(
    store: Store, ada: int, bob: int
) -> None:
    first = store.appointments.book(ada, "haircut", T0, T0 + minutes(30))
    store.appointments.book(bob, "haircut", T0 + minutes(30), T0 + minutes(60))
    store.appointments.book(bob, "haircut", T0 - minutes(30), T0)
    store.appointments.cancel(first.id, ada)
    again = store.appointments.book(bob, "haircut", T0, T0 + minutes(30))
    assert again.id != first.id
    assert len(store.appointments.all()) == 4


def test_reschedule(store: Store, ada: int, bob: int) -> None:
    mine = store.appointments.book(ada, "color", T0, T0 + minutes(90))
    theirs = store.appointments.book(bob, "haircut", T0 + minutes(180), T0 + minutes(210))

    # Moving by 30 minutes overlaps its own old time: that is not a conflict.
    moved = store.appointments.reschedule(mine.id, ada, T0 + minutes(30), T0 + minutes(120))
    assert (moved.start, moved.end) == (T0 + minutes(30), T0 + minutes(120))
    assert moved.id == mine.id and moved.service_id == "color"
    assert store.appointments.get(mine.id) == moved
    # The old time is free again.
    store.appointments.book(bob, "haircut", T0, T0 + minutes(30))

    with pytest.raises(SlotTaken):
        store.appointments.reschedule(mine.id, ada, T0 + minutes(150), T0 + minutes(240))
    assert store.appointments.get(mine.id) == moved
    assert moved.updated_at == CLOCK  # stamped by the store's clock, not the wall clock
    assert store.appointments.get(theirs.id) == theirs


def test_not_yours_is_not_found(store: Store, ada: int, bob: int) -> None:
    mine = store.appointments.book(ada, "haircut", T0, T0 + minutes(30))
    errors = []
    for appointment_id, customer_id in ((mine.id, bob), (9999, ada)):
        with pytest.raises(AppointmentNotFound) as err:
            store.appointments.reschedule(
                appointment_id, customer_id, T0 + minutes(60), T0 + minutes(90)
            )
        errors.append(str(err.value))
        with pytest.raises(AppointmentNotFound) as err:
            store.appointments.cancel(appointment_id, customer_id)
        errors.append(str(err.value))
    # Someone else's appointment and a missing one read exactly the same.
    assert len(set(errors)) == 1
    assert errors[0] == "I couldn't find that appointment."
    assert store.appointments.get(mine.id) == mine


def test_cancel(store: Store, ada: int) -> None:
    booked = store.appointments.book(ada, "haircut", T0, T0 + minutes(30))
    cancelled = store.appointments.cancel(booked.id, ada)
    assert cancelled.status == "cancelled" and not cancelled.active
    assert store.appointments.get(booked.id) == cancelled
    with pytest.raises(AppointmentNotActive) as err:
        store.appointments.cancel(booked.id, ada)
    assert str(err.value) == "That appointment has already been cancelled."
    with pytest.raises(AppointmentNotActive):
        store.appointments.reschedule(booked.id, ada, T0 + minutes(60), T0 + minutes(90))
    assert store.appointments.busy_between(T0 - minutes(60), T0 + minutes(60)) == []


def test_for_customer_and_busy_between(store: Store, ada: int, bob: int) -> None:
    past = store.appointments.book(
        ada, "haircut", T0 - timedelta(days=7), T0 - timedelta(days=7) + minutes(30)
    )
    soon = store.appointments.book(ada, "haircut", T0 + minutes(60), T0 + minutes(90))
    gone = store.appointments.book(ada, "color", T0 + minutes(120), T0 + minutes(210))
    store.appointments.cancel(gone.id, ada)
    first = store.appointments.book(ada, "beard", T0, T0 + minutes(15))
    theirs = store.appointments.book(bob, "haircut", T0 + minutes(30), T0 + minutes(60))

    everything = store.appointments.for_customer(ada)
    assert [a.id for a in everything] == [past.id, first.id, soon.id, gone.id]
    upcoming = store.appointments.for_customer(ada, upcoming_after=T0)
    assert [a.id for a in upcoming] == [first.id, soon.id]
    assert store.appointments.for_customer(bob) == [store.appointments.get(theirs.id)]
    assert store.appointments.for_customer(9999) == []

    busy = store.appointments.busy_between(T0 + minutes(10), T0 + minutes(120))
    assert busy == [
        (T0, T0 + minutes(15)),
        (T0 + minutes(30), T0 + minutes(60)),
        (T0 + minutes(60), T0 + minutes(90)),
    ]
    assert all(a.tzinfo == UTC and b.tzinfo == UTC for a, b in busy)
    # Half-open: an appointment ending at the range start is not busy within it.
    assert store.appointments.busy_between(T0 + minutes(90), T0 + minutes(120)) == []


# --- reports --------------------------------------------------------------------------------


def report(call_id: str, started: str, outcome: str = "booked", **extra: Any) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "room": f"room-{call_id}",
        "channel": "inbound",
        "caller_number": "+15551230001",
        "started_at": started,
        "ended_at": None,
        "outcome": outcome,
        "stack": "economy",
        "transcript": [{"role": "user", "text": "hi", "time": 0.5}],
        **extra,
    }


def test_report_save_get_and_upsert(store: Store) -> None:
    first = report("call_a", "2026-06-15T12:00:00+00:00", outcome=Outcome.IN_PROGRESS)
    store.reports.save(first)
    got = store.reports.get("call_a")
    assert got == {**first, "outcome": "in_progress"}
    assert store.reports.get("call_missing") is None

    final = report(
        "call_a",
        "2026-06-15T12:00:00+00:00",
        outcome=DeskOutcome.BOOKED,
        ended_at=datetime(2026, 6, 15, 12, 4, tzinfo=UTC),
        cost={"total_usd": 0.0123},
    )
    store.reports.save(final)
    got = store.reports.get("call_a")
    assert got is not None
    assert got["outcome"] == "booked"
    assert got["ended_at"] == "2026-06-15T12:04:00+00:00"
    assert got["cost"] == {"total_usd": 0.0123}
    rows = raw(store, "SELECT call_id, outcome, stack FROM call_reports")
    assert rows == [("call_a", "booked", "economy")]
    ended = raw(store, "SELECT ended_at FROM call_reports")[0][0]
    assert str(ended).startswith("2026-06-15 12:04:00")


def test_report_list_filters(store: Store) -> None:
    store.reports.save(report("c1", "2026-06-14T09:00:00Z", "booked"))
    store.reports.save(report("c2", "2026-06-15T09:00:00-04:00", "info", channel="web"))
    store.reports.save(report("c3", "2026-06-15T12:00:00Z", "booked"))
    store.reports.save(report("c4", "2026-06-16T08:00:00", "failed"))  # naive: UTC

    assert [r["call_id"] for r in store.reports.list()] == ["c4", "c2", "c3", "c1"]
    since = datetime(2026, 6, 15, tzinfo=UTC)
    assert [r["call_id"] for r in store.reports.list(since=since)] == ["c4", "c2", "c3"]
    assert [r["call_id"] for r in store.reports.list(outcome="booked")] == ["c3", "c1"]
    assert [r["call_id"] for r in store.reports.list(since, "booked")] == ["c3"]
    assert [r["call_id"] for r in store.reports.list(channel="web")] == ["c2"]
    assert [r["call_id"] for r in store.reports.list(limit=2)] == ["c4", "c2"]
    assert store.reports.list(outcome="voicemail") == []


def test_report_validation(store: Store) -> None:
    with pytest.raises(ValueError, match="call_id"):
        store.reports.save({"room": "r"})
    with pytest.raises(ValueError, match="started_at"):
        store.reports.save(report("c1", "yesterday"))
    with pytest.raises(TypeError, match="not JSON serialisable"):
        store.reports.save(report("c1", "2026-06-15T12:00:00Z", blob=object()))
    assert store.reports.list() == []


# --- outbox ---------------------------------------------------------------------------------


def test_outbox_lifecycle(store: Store) -> None:
    first = store.outbox.add("crm.booking", {"appointment_id": 1, "at": T0})
    second = store.outbox.add("crm.cancel", {"appointment_id": 2})
    assert first != second

    before = store.outbox.due(CLOCK - minutes(1), limit=10)
    assert before == []
    due = store.outbox.due(CLOCK, limit=10)
    assert [d.id for d in due] == [first, second]
    assert due[0].payload == {"appointment_id": 1, "at": T0.isoformat()}
    assert due[0].attempts == 0 and due[0].delivered_at is None
    assert [d.id for d in store.outbox.due(CLOCK, limit=1)] == [first]

    retry_at = CLOCK + minutes(5)
    store.outbox.mark_failed(first, "HTTP 503", retry_at)
    assert [d.id for d in store.outbox.due(CLOCK + minutes(1), limit=10)] == [second]
    failed = store.outbox.get(first)
    assert failed is not None
    assert (failed.attempts, failed.last_error, failed.next_attempt_at) == (1, "HTTP 503", retry_at)

    store.outbox.mark_delivered(second, CLOCK + minutes(2))
    assert [d.id for d in store.outbox.due(CLOCK + minutes(10), limit=10)] == [first]
    delivered = store.outbox.get(second)
    assert delivered is not None and delivered.delivered_at == CLOCK + minutes(2)

    with pytest.raises(StoreError, match="no outbox item"):
        store.outbox.mark_delivered(9999, CLOCK)
    with pytest.raises(StoreError, match="no outbox item"):
        store.outbox.mark_failed(9999, "x", CLOCK)


# --- concurrency ----------------------------------------------------------------------------

THREADS = 12


def _race(stores: list[Store], customer_ids: list[int], offsets: list[int]) -> list[str]:
    """Every thread books at once (released together by a barrier); returns each result."""
    barrier = threading.Barrier(len(offsets))
    results: list[str] = [""] * len(offsets)

    def worker(i: int) -> None:
        s = stores[i % len(stores)]
        start = T0 + minutes(offsets[i])
        barrier.wait()
        try:
            s.appointments.book(customer_ids[i], "haircut", start, start + minutes(30))
            results[i] = "booked"
        except SlotTaken:
            results[i] = "taken"
        except Exception as exc:  # any other outcome is a failure the test must show
            results[i] = f"error: {exc!r}"

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(offsets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.fixture
def racers(store: Store) -> list[int]:
    return [store.customers.create(f"Caller {i}", f"+1555123{i:04d}").id for i in range(THREADS)]


def _booked_rows(store: Store) -> list[Any]:
    return raw(store, "SELECT customer_id, start_at FROM appointments WHERE status = 'booked'")


@pytest.mark.parametrize("separate_stores", [False, True], ids=["one-store", "store-per-thread"])
def test_concurrent_same_slot_exactly_one_wins(
    store: Store, racers: list[int], tmp_path: Path, separate_stores: bool
) -> None:
    stores = [store]
    if separate_stores:
        stores = [open_store(store.url) for _ in range(THREADS)]
    try:
        for round_ in range(3):
            offset = round_ * 60
            results = _race(stores, racers, [offset] * THREADS)
            assert sorted(results) == ["booked"] + ["taken"] * (THREADS - 1), results
    finally:
        for s in stores:
            if s is not store:
                s.close()
    assert len(_booked_rows(store)) == 3


def test_concurrent_overlapping_slots_exactly_one_wins(store: Store, racers: list[int]) -> None:
    # Starts 0, 5, 10 ... 25 minutes: every 30-minute booking overlaps every other.
    offsets = [(i % 6) * 5 for i in range(THREADS)]
    results = _race([store], racers, offsets)
    assert sorted(results) == ["booked"] + ["taken"] * (THREADS - 1), results
    assert len(_booked_rows(store)) == 1


def test_concurrent_distinct_slots_all_succeed(store: Store, racers: list[int]) -> None:
    # No false conflicts and no "database is locked" when writers queue for the lock.
    offsets = [i * 30 for i in range(THREADS)]
    results = _race([store], racers, offsets)
    assert results == ["booked"] * THREADS
    assert len(_booked_rows(store)) == THREADS


def _process_worker(url: str, customer_id: int, barrier: Any, out: Any) -> None:
    s = open_store(url)
    try:
        barrier.wait(timeout=30)
        try:
            s.appointments.book(customer_id, "haircut", T0, T0 + minutes(30))
            out.put("booked")
        except SlotTaken:
            out.put("taken")
        except Exception as exc:
            out.put(f"error: {exc!r}")
    finally:
        s.close()


def test_concurrent_processes_exactly_one_wins(store: Store, racers: list[int]) -> None:
    n = 6
    # fork keeps this well under a second; spawn re-imports everything per process (~1 s each).
    # The children never touch the parent's inherited connections: each opens its own store.
    ctx = (
        multiprocessing.get_context("fork")
        if "fork" in multiprocessing.get_all_start_methods()
        else multiprocessing.get_context("spawn")
    )
    barrier = ctx.Barrier(n)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_process_worker, args=(store.url, racers[i], barrier, out))
        for i in range(n)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in range(n)]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert sorted(results) == ["booked"] + ["taken"] * (n - 1), results
    assert len(_booked_rows(store)) == 1


def test_lock_held_too_long_is_store_busy(store: Store, ada: int) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's lock and pragmas; Postgres serialises with an advisory lock")
    # Another process holds the write lock; shorten the wait so the test stays fast.
    store.engine.dispose()

    @event.listens_for(store.engine, "connect")
    def _short_wait(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=50")

    blocker = sqlite3.connect(store.engine.url.database or "", isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreBusy) as err:
            store.appointments.book(ada, "haircut", T0, T0 + minutes(30))
        assert str(err.value) == "The booking system is busy right now; please try again."
        # Readers are not blocked by a writer in WAL mode.
        assert store.appointments.all() == []
    finally:
        blocker.rollback()
        blocker.close()
    assert store.appointments.book(ada, "haircut", T0, T0 + minutes(30)).active


def test_pragmas_apply_to_every_pooled_connection(store: Store) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's lock and pragmas; Postgres serialises with an advisory lock")
    # Connections opened later (pool growth under load) must get the same settings.
    conns = [store.engine.connect() for _ in range(3)]
    try:
        for conn in conns:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        for conn in conns:
            conn.close()


# --- column limits: the same clear error on every back end ----------------------------------


def test_column_limits_are_checked_before_the_insert(store: Store, ada: int) -> None:
    with pytest.raises(ValueTooLong, match=r"call_reports\.room holds at most 200 characters"):
        store.reports.save(report("call_long", "2026-06-15T12:00:00+00:00", room="r" * 201))
    assert store.reports.get("call_long") is None
    with pytest.raises(ValueTooLong, match=r"customers\.name holds at most 200 characters"):
        store.customers.create("n" * 201, "+15551239999")
    with pytest.raises(ValueTooLong, match=r"outbox\.kind holds at most 64 characters"):
        store.outbox.add("k" * 65, {})
    # At the limit is fine on both back ends.
    store.reports.save(report("call_ok", "2026-06-15T12:00:00+00:00", room="r" * 200))
    assert store.reports.get("call_ok") is not None


def test_the_workers_stack_description_fits_its_column(store: Store) -> None:
    described = "economy: STT deepgram/nova-3, LLM openai/gpt-4.1-nano, TTS cartesia/sonic-turbo"
    store.reports.save(report("call_stack", "2026-06-15T12:00:00+00:00", stack=described))
    assert raw(store, "SELECT stack FROM call_reports") == [("economy",)]
    assert store.reports.get("call_stack")["stack"] == described  # type: ignore[index]
