"""The store's outbox: claims (each item to one claimer, across processes), leases, parking.

Runs on SQLite and on Postgres (a throwaway cluster: the `db_url` fixture in conftest.py)
(e.g. postgresql+psycopg://callcrew@127.0.0.1:5432/callcrew_test).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callcrew.store import PARKED_UNTIL, Store, open_store

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 6, 12, 13, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def _clock() -> datetime:
    return NOW


@pytest.fixture
def box(db_url: str) -> Iterator[Store]:
    with open_store(db_url, clock=_clock) as s:
        yield s


def test_a_claimed_item_is_nobody_elses_until_its_lease_ends(box: Store, db_url: str) -> None:
    first = box.outbox.add("crm_report", {"call_id": "a"})
    second = box.outbox.add("crm_report", {"call_id": "b"})
    with open_store(db_url) as other:
        mine = box.outbox.claim(NOW, LEASE, limit=1)
        theirs = other.outbox.claim(NOW, LEASE, limit=10)
        assert [r.id for r in mine] == [first]
        assert [r.id for r in theirs] == [second]
        assert other.outbox.claim(NOW + timedelta(minutes=4), LEASE) == []
        # The claimant died mid-send: once the lease runs out, someone else may retry.
        again = other.outbox.claim(NOW + LEASE, LEASE)
        assert sorted(r.id for r in again) == [first, second]
    assert mine[0].attempts == 0 and mine[0].payload == {"call_id": "a"}


def test_an_item_born_claimed_is_not_due_for_others(box: Store) -> None:
    item = box.outbox.add("crm_report", {"call_id": "a"}, lease=LEASE)
    assert box.outbox.claim(NOW, LEASE) == []
    record = box.outbox.get(item)
    assert record is not None and record.next_attempt_at == NOW + LEASE
    assert [r.id for r in box.outbox.claim(NOW + LEASE, LEASE)] == [item]


def test_claim_filters_by_kind_and_skips_delivered(box: Store) -> None:
    done = box.outbox.add("crm_report", {"call_id": "a"})
    other = box.outbox.add("crm.booking", {"appointment_id": 1})
    box.outbox.mark_delivered(done, NOW)
    assert box.outbox.claim(NOW, LEASE, kind="crm_report") == []
    assert [r.id for r in box.outbox.claim(NOW, LEASE)] == [other]


CLAIMER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    sys.path[:0] = [{src!r}]
    from callcrew.store import open_store
    store = open_store({url!r})
    got = []
    while True:
        batch = store.outbox.claim(datetime.now(UTC), timedelta(hours=1), limit=1)
        if not batch:
            break
        got += [r.id for r in batch]
        store.outbox.mark_delivered(batch[0].id, datetime.now(UTC))
    print(" ".join(map(str, got)))
    """
)


def test_four_processes_claim_each_item_exactly_once(box: Store, db_url: str) -> None:
    ids = [box.outbox.add("crm_report", {"call_id": f"c{i}"}) for i in range(60)]
    box.outbox.requeue(datetime.now(UTC) - timedelta(seconds=1), ids=ids)  # due on a real clock
    code = CLAIMER.format(src=str(REPO / "src"), url=db_url)
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    claimed: list[int] = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        claimed += [int(x) for x in out.split()]
    assert sorted(claimed) == sorted(ids)  # every item once: none twice, none missed


def test_parked_items_are_listed_and_requeued(box: Store) -> None:
    a = box.outbox.add("crm_report", {"call_id": "a"})
    b = box.outbox.add("crm_report", {"call_id": "b"})
    c = box.outbox.add("crm_report", {"call_id": "c"})
    box.outbox.mark_failed(a, "gave up after 8 attempts: HTTP 503", PARKED_UNTIL)
    box.outbox.mark_failed(b, "HTTP 503", NOW + timedelta(minutes=1))
    box.outbox.mark_delivered(c, NOW)

    [parked] = box.outbox.list(state="parked")
    assert parked.id == a and parked.parked and parked.last_error is not None
    assert [i.id for i in box.outbox.list(state="waiting")] == [b]
    assert [i.id for i in box.outbox.list()] == [a, b]
    with pytest.raises(ValueError, match="unknown outbox state"):
        box.outbox.list(state="lost")

    assert box.outbox.requeue(NOW) == 1  # every parked one
    record = box.outbox.get(a)
    assert record is not None and not record.parked
    assert (record.attempts, record.next_attempt_at) == (0, NOW)
    assert box.outbox.list(state="parked") == []
    assert box.outbox.requeue(NOW, ids=[b, c]) == 1  # c is delivered: left alone
    assert [r.id for r in box.outbox.claim(NOW, LEASE)] == [a, b]


def test_park_keeps_the_attempt_count(box: Store) -> None:
    item = box.outbox.add("crm_report", {"call_id": "a"})
    box.outbox.mark_failed(item, "HTTP 500", NOW)
    box.outbox.park(item, "gave up after 1 attempts: HTTP 500")
    record = box.outbox.get(item)
    assert record is not None and record.parked and record.attempts == 1
