"""Column limits checked before the database sees the value, the same on every back end.

SQLite ignores VARCHAR(n) and stores 10,000 characters in `room VARCHAR(200)`; Postgres
refuses it with a driver error naming no column we chose. Checking first gives one clear
`ValueTooLong` on both. ORM rows are checked by a mapper event; Core inserts (the report
upsert) call `check_lengths` themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.orm import DeclarativeBase, Mapper

from callcrew.store.errors import ValueTooLong
from callcrew.store.models import Base


def check_lengths(table: Table, values: Mapping[str, Any]) -> None:
    """ValueTooLong for the first string longer than its column allows."""
    for key, value in values.items():
        column = table.columns.get(key)
        limit = getattr(column.type, "length", None) if column is not None else None
        if isinstance(value, str) and isinstance(limit, int) and len(value) > limit:
            raise ValueTooLong(
                f"{table.name}.{key} holds at most {limit} characters; got {len(value)} "
                f"({value[:40]!r}...)"
            )


def _check_row(_mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    table = target.__table__
    check_lengths(table, {c.key: getattr(target, c.key, None) for c in table.columns})


def guard_lengths(base: type[DeclarativeBase]) -> None:
    """Check every ORM row of `base`'s tables before it is written (a crew calls this for its
    own DeclarativeBase)."""
    event.listen(base, "before_insert", _check_row, propagate=True)
    event.listen(base, "before_update", _check_row, propagate=True)


guard_lengths(Base)
