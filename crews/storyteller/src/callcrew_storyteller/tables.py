"""The storyteller's own table in the engine's database: every story told, one row each.

Its schema is the crew's Alembic branch `storyteller` (migrations/), upgraded beside the engine's
branch when the store opens; these models are how the crew reads and writes it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from callcrew.call import CrewTables

MIGRATIONS = Path(__file__).parent / "migrations"
BRANCH = "storyteller"
# Column lengths, checked before the insert so SQLite and Postgres refuse alike.
LIMITS = {"call_id": 64, "listener": 80, "location": 120, "theme": 60, "title": 120}


class StoryBase(DeclarativeBase):
    pass


class StoryTold(StoryBase):
    __tablename__ = "stories_told"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(LIMITS["call_id"]), index=True)
    listener: Mapped[str] = mapped_column(String(LIMITS["listener"]))
    location: Mapped[str] = mapped_column(String(LIMITS["location"]))
    theme: Mapped[str] = mapped_column(String(LIMITS["theme"]))
    title: Mapped[str] = mapped_column(String(LIMITS["title"]))
    told_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


TABLES = CrewTables(metadata=StoryBase.metadata, migrations=MIGRATIONS, branch=BRANCH)


def record_story(engine: Any, **values: Any) -> int:
    """Insert one story told; values longer than their column are cut to fit (a title the
    model made long must not lose the record of the story)."""
    for key, limit in LIMITS.items():
        if isinstance(values.get(key), str):
            values[key] = values[key][:limit]
    with Session(engine) as session, session.begin():
        row = StoryTold(**values)
        session.add(row)
        session.flush()
        return row.id


def stories(engine: Any) -> list[dict[str, Any]]:
    """Every story told, oldest first (the rehearsal's `expect: store:` view)."""
    with Session(engine) as session:
        rows = session.scalars(select(StoryTold).order_by(StoryTold.id)).all()
        return [
            {
                "listener": r.listener,
                "location": r.location,
                "theme": r.theme,
                "title": r.title,
                "call_id": r.call_id,
            }
            for r in rows
        ]
