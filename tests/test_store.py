from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from agents.desk_store.models import DeskBase
from agents.outcomes import DeskOutcome
from sqlalchemy import create_engine, event, inspect, text

from callcrew.call import Outcome
from callcrew.crews import load_crew
from callcrew.store import (
    SchemaTooNew,
    Store,
    StoreBusy,
    StoreError,
    ValueTooLong,
    migrate,
    open_store,
)
from callcrew.store.engine import normalise_url
from callcrew.store.models import Base
from tests import store_fixtures
from tests.store_fixtures import CLOCK, T0, minutes, raw, sqlite_url

pytestmark = pytest.mark.unit

# Every test on `store` runs on SQLite and on Postgres (conftest's db_url).
store, ada = store_fixtures.store, store_fixtures.ada


# --- engine and migrations ------------------------------------------------------------------


def test_creates_missing_parent_folder_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "callcrew.db"
    with open_store(sqlite_url(path)) as s:
        assert path.exists()
        with s.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


def _tables(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names())


def test_a_new_store_is_at_the_head_of_the_engines_and_the_crews_branch(db_url: str) -> None:
    with open_store(db_url) as s:
        assert raw(s, "SELECT version_num FROM alembic_version") == [("callcrew_0001",)]
        assert raw(s, "SELECT version_num FROM alembic_version_desk") == [("desk_0001",)]
        assert _tables(s) == {
            "alembic_version",
            "alembic_version_desk",
            "call_reports",
            "outbox",
            "customers",
            "appointments",
        }
        assert migrate.status(s.engine, s.tables) == [
            ("callcrew", "callcrew_0001", "callcrew_0001"),
            ("desk", "desk_0001", "desk_0001"),
        ]
        s.crew_data.customers.create("Ada", "+15551230001")
    with open_store(db_url) as s:  # reopening migrates nothing and keeps the data
        found = s.crew_data.customers.find_by_phone("+15551230001")
        assert found is not None and found.name == "Ada"


def test_a_crew_without_tables_gets_only_the_engines(tmp_path: Path) -> None:
    crew = load_crew("default")
    crew.tables = None
    with open_store(sqlite_url(tmp_path / "e.db"), crew=crew) as s:
        assert _tables(s) == {"alembic_version", "call_reports", "outbox"}
        assert s.crew_data is None


def test_another_crews_tables_in_the_same_store_are_left_alone(db_url: str) -> None:
    open_store(db_url).close()
    engine = create_engine(normalise_url(db_url))
    with engine.begin() as conn:  # what a crew with branch "orders" leaves behind
        conn.execute(text("CREATE TABLE alembic_version_orders (version_num VARCHAR(32))"))
        conn.execute(text("INSERT INTO alembic_version_orders VALUES ('orders_0007')"))
    engine.dispose()
    with open_store(db_url) as s:
        assert raw(s, "SELECT version_num FROM alembic_version_orders") == [("orders_0007",)]


def test_workers_opening_a_new_store_together_migrate_it_once(db_url: str) -> None:
    def open_one(_: int) -> list[Any]:
        with open_store(db_url) as s:
            return raw(s, "SELECT version_num FROM alembic_version")

    with ThreadPoolExecutor(4) as pool:
        seen = list(pool.map(open_one, range(4)))
    assert seen == [[("callcrew_0001",)]] * 4


def _old_store(url: str, version: int = 1) -> None:
    """A store as callcrew made it before migrations: create_all plus `schema_version`."""
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        Base.metadata.create_all(conn)
        DeskBase.metadata.create_all(conn)
        conn.execute(text("CREATE TABLE schema_version (id INTEGER PRIMARY KEY, version INTEGER)"))
        conn.execute(text("INSERT INTO schema_version VALUES (1, :v)"), {"v": version})
        conn.execute(
            text("INSERT INTO customers (name, phone, created_at) VALUES ('Ada', NULL, :t)"),
            {"t": CLOCK.replace(tzinfo=None) if url.startswith("sqlite") else CLOCK},
        )
    engine.dispose()


def test_a_store_made_before_migrations_is_stamped_and_upgraded(db_url: str) -> None:
    _old_store(db_url)
    with open_store(db_url, read_only=True) as s:  # a reader accepts it as it is
        assert [c.name for c in s.crew_data.customers.all()] == ["Ada"]
    with open_store(db_url) as s:
        assert "schema_version" not in _tables(s)
        assert raw(s, "SELECT version_num FROM alembic_version") == [("callcrew_0001",)]
        assert raw(s, "SELECT version_num FROM alembic_version_desk") == [("desk_0001",)]
        assert [c.name for c in s.crew_data.customers.all()] == ["Ada"]


def test_newer_schema_is_refused(db_url: str) -> None:
    open_store(db_url).close()
    engine = create_engine(normalise_url(db_url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version_desk SET version_num = 'desk_0099'"))
    engine.dispose()
    for read_only in (False, True):
        with pytest.raises(SchemaTooNew) as err:
            open_store(db_url, read_only=read_only)
        message = str(err.value)
        assert "desk schema revision(s) desk_0099" in message and "upgrade callcrew" in message
        assert isinstance(err.value, StoreError)


def test_a_newer_pre_migration_store_is_refused(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "newer.db")
    _old_store(url, version=2)
    with pytest.raises(SchemaTooNew, match="schema version 2"):
        open_store(url)


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
            store.crew_data.appointments.book(ada, "haircut", T0, T0 + minutes(30))
        assert str(err.value) == "The system is busy right now; please try again."
        # Readers are not blocked by a writer in WAL mode.
        assert store.crew_data.appointments.all() == []
    finally:
        blocker.rollback()
        blocker.close()
    assert store.crew_data.appointments.book(ada, "haircut", T0, T0 + minutes(30)).active


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
        store.crew_data.customers.create("n" * 201, "+15551239999")
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
