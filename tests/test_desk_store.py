"""agents/desk_store: customers, appointments and atomic booking, on SQLite and Postgres."""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from agents.desk_store import (
    AppointmentNotActive,
    AppointmentNotFound,
    AppointmentRecord,
    CustomerExists,
    CustomerNotFound,
    SlotTaken,
)

from callcrew.store import Store, open_store
from tests import store_fixtures
from tests.store_fixtures import CLOCK, NY, T0, minutes, raw, sqlite_url

pytestmark = pytest.mark.unit

# Every test on `store` runs on SQLite and on Postgres (conftest's db_url).
store, ada, bob = store_fixtures.store, store_fixtures.ada, store_fixtures.bob


def test_in_memory_store_is_shared_across_threads() -> None:
    with open_store("sqlite://") as s:
        customer = s.crew_data.customers.create("Ada", "+15551230001")

        async def book_in_thread() -> AppointmentRecord:
            return await asyncio.to_thread(
                s.crew_data.appointments.book, customer.id, "haircut", T0, T0 + minutes(30)
            )

        booked = asyncio.run(book_in_thread())
        assert s.crew_data.appointments.get(booked.id) == booked
        with pytest.raises(SlotTaken):
            s.crew_data.appointments.book(customer.id, "haircut", T0, T0 + minutes(30))


# --- customers ------------------------------------------------------------------------------


def test_customer_crud(store: Store) -> None:
    created = store.crew_data.customers.create("  Ada   Lovelace ", "+15551230001")
    assert created.name == "Ada Lovelace"
    assert created.phone == "+15551230001"
    assert created.created_at == CLOCK
    assert store.crew_data.customers.get(created.id) == created
    assert store.crew_data.customers.find_by_phone("+15551230001") == created
    assert store.crew_data.customers.find_by_phone("+15559999999") is None
    assert store.crew_data.customers.get(9999) is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        created.name = "Eve"  # type: ignore[misc]

    renamed = store.crew_data.customers.rename(created.id, "Ada King")
    assert renamed.name == "Ada King"
    assert store.crew_data.customers.get(created.id) == renamed
    with pytest.raises(CustomerNotFound):
        store.crew_data.customers.rename(9999, "Nobody")

    anonymous = store.crew_data.customers.create("Walk-in")
    assert anonymous.phone is None
    assert (
        store.crew_data.customers.create("Walk-in").id != anonymous.id
    )  # many customers without phone


def test_customer_validation(store: Store) -> None:
    store.crew_data.customers.create("Ada", "+15551230001")
    with pytest.raises(CustomerExists, match="already have a customer"):
        store.crew_data.customers.create("Someone else", "+15551230001")
    with pytest.raises(ValueError, match=r"E\.164"):
        store.crew_data.customers.create("Ada", "555-1234")
    with pytest.raises(ValueError, match="name"):
        store.crew_data.customers.create("   ", "+15551230009")


def test_get_or_create(store: Store) -> None:
    first = store.crew_data.customers.get_or_create("Ada", "+15551230001")
    again = store.crew_data.customers.get_or_create("Someone", "+15551230001")
    assert again == first
    assert again.name == "Ada"
    other = store.crew_data.customers.get_or_create("Bob", "+15551230002")
    assert other.id != first.id
    assert store.crew_data.customers.all() == [first, other]


# --- appointments ---------------------------------------------------------------------------


def test_book_and_read_back(store: Store, ada: int) -> None:
    booked = store.crew_data.appointments.book(ada, "color", T0, T0 + minutes(90), call_id="call_1")
    assert booked.customer_id == ada
    assert booked.service_id == "color"
    assert booked.status == "booked" and booked.active
    assert booked.call_id == "call_1"
    assert (booked.start, booked.end) == (T0, T0 + minutes(90))
    assert booked.created_at == booked.updated_at == CLOCK
    assert store.crew_data.appointments.get(booked.id) == booked
    assert store.crew_data.appointments.get(9999) is None
    assert store.crew_data.appointments.all() == [booked]


def test_times_round_trip_as_aware_utc(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "tz.db")
    start = datetime(2026, 6, 16, 9, 30, tzinfo=NY)
    with open_store(url) as s:
        customer = s.crew_data.customers.create("Ada", "+15551230001")
        booked = s.crew_data.appointments.book(customer.id, "haircut", start, start + minutes(30))
        assert booked.start == start
        assert booked.start.tzinfo == UTC
        assert booked.start.hour == 13
        stored = raw(s, "SELECT start_at FROM appointments")[0][0]
        assert stored.startswith("2026-06-16 13:30:00")
    with open_store(url) as s:
        again = s.crew_data.appointments.get(booked.id)
        assert again is not None
        assert again.start.tzinfo == UTC
        assert again.start == start
        assert again.end - again.start == minutes(30)
        assert again.created_at.tzinfo == UTC


def test_book_rejects_bad_input(store: Store, ada: int) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.crew_data.appointments.book(
            ada, "haircut", datetime(2026, 6, 16, 9), T0 + minutes(30)
        )
    with pytest.raises(ValueError, match="end after it starts"):
        store.crew_data.appointments.book(ada, "haircut", T0, T0)
    with pytest.raises(CustomerNotFound):
        store.crew_data.appointments.book(9999, "haircut", T0, T0 + minutes(30))
    assert store.crew_data.appointments.all() == []


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
    store.crew_data.appointments.book(ada, "color", T0, T0 + minutes(60))
    with pytest.raises(SlotTaken) as err:
        store.crew_data.appointments.book(bob, "haircut", T0 + minutes(start), T0 + minutes(end))
    assert str(err.value) == "Sorry, that time has just been taken."
    assert len(store.crew_data.appointments.all()) == 1


def test_touching_bookings_and_cancelled_ones_do_not_block(
    store: Store, ada: int, bob: int
) -> None:
    first = store.crew_data.appointments.book(ada, "haircut", T0, T0 + minutes(30))
    store.crew_data.appointments.book(bob, "haircut", T0 + minutes(30), T0 + minutes(60))
    store.crew_data.appointments.book(bob, "haircut", T0 - minutes(30), T0)
    store.crew_data.appointments.cancel(first.id, ada)
    again = store.crew_data.appointments.book(bob, "haircut", T0, T0 + minutes(30))
    assert again.id != first.id
    assert len(store.crew_data.appointments.all()) == 4


def test_reschedule(store: Store, ada: int, bob: int) -> None:
    mine = store.crew_data.appointments.book(ada, "color", T0, T0 + minutes(90))
    theirs = store.crew_data.appointments.book(bob, "haircut", T0 + minutes(180), T0 + minutes(210))

    # Moving by 30 minutes overlaps its own old time: that is not a conflict.
    moved = store.crew_data.appointments.reschedule(
        mine.id, ada, T0 + minutes(30), T0 + minutes(120)
    )
    assert (moved.start, moved.end) == (T0 + minutes(30), T0 + minutes(120))
    assert moved.id == mine.id and moved.service_id == "color"
    assert store.crew_data.appointments.get(mine.id) == moved
    # The old time is free again.
    store.crew_data.appointments.book(bob, "haircut", T0, T0 + minutes(30))

    with pytest.raises(SlotTaken):
        store.crew_data.appointments.reschedule(mine.id, ada, T0 + minutes(150), T0 + minutes(240))
    assert store.crew_data.appointments.get(mine.id) == moved
    assert moved.updated_at == CLOCK  # stamped by the store's clock, not the wall clock
    assert store.crew_data.appointments.get(theirs.id) == theirs


def test_not_yours_is_not_found(store: Store, ada: int, bob: int) -> None:
    mine = store.crew_data.appointments.book(ada, "haircut", T0, T0 + minutes(30))
    errors = []
    for appointment_id, customer_id in ((mine.id, bob), (9999, ada)):
        with pytest.raises(AppointmentNotFound) as err:
            store.crew_data.appointments.reschedule(
                appointment_id, customer_id, T0 + minutes(60), T0 + minutes(90)
            )
        errors.append(str(err.value))
        with pytest.raises(AppointmentNotFound) as err:
            store.crew_data.appointments.cancel(appointment_id, customer_id)
        errors.append(str(err.value))
    # Someone else's appointment and a missing one read exactly the same.
    assert len(set(errors)) == 1
    assert errors[0] == "I couldn't find that appointment."
    assert store.crew_data.appointments.get(mine.id) == mine


def test_cancel(store: Store, ada: int) -> None:
    booked = store.crew_data.appointments.book(ada, "haircut", T0, T0 + minutes(30))
    cancelled = store.crew_data.appointments.cancel(booked.id, ada)
    assert cancelled.status == "cancelled" and not cancelled.active
    assert store.crew_data.appointments.get(booked.id) == cancelled
    with pytest.raises(AppointmentNotActive) as err:
        store.crew_data.appointments.cancel(booked.id, ada)
    assert str(err.value) == "That appointment has already been cancelled."
    with pytest.raises(AppointmentNotActive):
        store.crew_data.appointments.reschedule(booked.id, ada, T0 + minutes(60), T0 + minutes(90))
    assert store.crew_data.appointments.busy_between(T0 - minutes(60), T0 + minutes(60)) == []


def test_for_customer_and_busy_between(store: Store, ada: int, bob: int) -> None:
    past = store.crew_data.appointments.book(
        ada, "haircut", T0 - timedelta(days=7), T0 - timedelta(days=7) + minutes(30)
    )
    soon = store.crew_data.appointments.book(ada, "haircut", T0 + minutes(60), T0 + minutes(90))
    gone = store.crew_data.appointments.book(ada, "color", T0 + minutes(120), T0 + minutes(210))
    store.crew_data.appointments.cancel(gone.id, ada)
    first = store.crew_data.appointments.book(ada, "beard", T0, T0 + minutes(15))
    theirs = store.crew_data.appointments.book(bob, "haircut", T0 + minutes(30), T0 + minutes(60))

    everything = store.crew_data.appointments.for_customer(ada)
    assert [a.id for a in everything] == [past.id, first.id, soon.id, gone.id]
    upcoming = store.crew_data.appointments.for_customer(ada, upcoming_after=T0)
    assert [a.id for a in upcoming] == [first.id, soon.id]
    assert store.crew_data.appointments.for_customer(bob) == [
        store.crew_data.appointments.get(theirs.id)
    ]
    assert store.crew_data.appointments.for_customer(9999) == []

    busy = store.crew_data.appointments.busy_between(T0 + minutes(10), T0 + minutes(120))
    assert busy == [
        (T0, T0 + minutes(15)),
        (T0 + minutes(30), T0 + minutes(60)),
        (T0 + minutes(60), T0 + minutes(90)),
    ]
    assert all(a.tzinfo == UTC and b.tzinfo == UTC for a, b in busy)
    # Half-open: an appointment ending at the range start is not busy within it.
    assert store.crew_data.appointments.busy_between(T0 + minutes(90), T0 + minutes(120)) == []


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
            s.crew_data.appointments.book(customer_ids[i], "haircut", start, start + minutes(30))
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
    return [
        store.crew_data.customers.create(f"Caller {i}", f"+1555123{i:04d}").id
        for i in range(THREADS)
    ]


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
            s.crew_data.appointments.book(customer_id, "haircut", T0, T0 + minutes(30))
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
