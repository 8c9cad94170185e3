"""The store on both back ends, for the store's tests (test_store.py, test_desk_store.py).

A module that binds `store = store_fixtures.store` (and `ada`, `bob`) runs every test that takes
`store` on SQLite and on Postgres (conftest's `db_url`), the store's clock frozen at CLOCK; the
rest of the suite keeps conftest's plain SQLite `store`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callcrew.store import Store, open_store

NY = ZoneInfo("America/New_York")
CLOCK = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 6, 16, 13, 0, tzinfo=UTC)  # Tuesday 09:00 in New York


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def raw(store: Store, sql: str) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.exec_driver_sql(sql).all())


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url, clock=lambda: CLOCK)
    yield s
    s.close()


@pytest.fixture
def ada(store: Store) -> int:
    return store.crew_data.customers.create("Ada Lovelace", "+15551230001").id


@pytest.fixture
def bob(store: Store) -> int:
    return store.crew_data.customers.create("Bob", "+15551230002").id
