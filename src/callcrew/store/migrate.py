"""Schema migrations: Alembic branches for the engine (`callcrew`) and each crew, run in code.

One database, several owners: the engine's tables (call reports, outbox) and the active crew's
(`Crew.tables`) each have their own Alembic branch and versions directory. Opening a store
upgrades every branch to its head inside one write transaction (BEGIN IMMEDIATE on SQLite, the
advisory lock on Postgres), so two workers starting together migrate once. No alembic.ini or
env.py is needed at run time. A store made before migrations (a `schema_version` table) is
taken up by the baselines, which create only the tables it lacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect, text

from callcrew.call import CrewTables
from callcrew.store.engine import WRITE, lock_for_write, shown_url
from callcrew.store.errors import SchemaTooNew, StoreNotFound

ENGINE_BRANCH = "callcrew"
ENGINE_MIGRATIONS = Path(__file__).parent / "migrations"
LEGACY_TABLE = "schema_version"  # how stores were versioned before Alembic
LEGACY_VERSION = 1


def script_directory(tables: Sequence[CrewTables] = ()) -> ScriptDirectory:
    """The engine's revisions and each crew's, as one Alembic history."""
    locations = [str(ENGINE_MIGRATIONS / "versions"), *(str(t.migrations) for t in tables)]
    return ScriptDirectory(str(ENGINE_MIGRATIONS), version_locations=locations)


def _config(script: ScriptDirectory) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", script.dir)
    cfg.set_main_option("version_locations", " ".join(script.version_locations or []))
    return cfg


def _run(conn: Connection, script: ScriptDirectory, target: str, *, stamp: bool = False) -> None:
    def step(rev: Any, _context: Any) -> Any:
        if stamp:
            return script._stamp_revs(target, rev)
        return script._upgrade_revs(target, rev)

    with EnvironmentContext(_config(script), script, fn=step) as env:
        env.configure(connection=conn)
        with env.begin_transaction():
            env.run_migrations()


def current(conn: Connection) -> set[str]:
    return set(MigrationContext.configure(conn).get_current_heads())


def _refuse_unknown(engine: Engine, script: ScriptDirectory, found: set[str]) -> None:
    unknown = []
    for rev in found:
        try:
            script.get_revision(rev)
        except CommandError:
            unknown.append(rev)
    if unknown:
        raise SchemaTooNew(
            f"The database at {shown_url(engine.url)} is at schema revision(s) "
            f"{', '.join(sorted(unknown))}, which this callcrew (or this crew) does not know; "
            "upgrade callcrew, or check CREW."
        )


def _legacy_version(conn: Connection) -> int | None:
    if not inspect(conn).has_table(LEGACY_TABLE):
        return None
    value = conn.execute(text(f"SELECT version FROM {LEGACY_TABLE}")).scalar()
    return int(value) if value is not None else None


def upgrade(engine: Engine, tables: Sequence[CrewTables] = ()) -> None:
    """Upgrade the engine's branch and each crew's to their heads (or refuse a newer store)."""
    script = script_directory(tables)
    writer = engine.execution_options(**{WRITE: True})
    with writer.begin() as conn:
        lock_for_write(conn)
        legacy = _legacy_version(conn)
        if legacy is not None and legacy > LEGACY_VERSION:
            raise SchemaTooNew(
                f"The database at {shown_url(engine.url)} has schema version {legacy}, but this "
                f"callcrew knows only up to {LEGACY_VERSION}; upgrade callcrew."
            )
        _refuse_unknown(engine, script, current(conn))
        _run(conn, script, "heads")


def check(engine: Engine, tables: Sequence[CrewTables] = (), shown: str | None = None) -> None:
    """Read-only open: a migrated store whose revisions we know; nothing is written."""
    with engine.connect() as conn:
        found = current(conn) if inspect(conn).has_table("alembic_version") else set()
        if not found and _legacy_version(conn) is None:
            raise StoreNotFound(
                f"{shown or shown_url(engine.url)} holds no callcrew store (no alembic_version "
                "table); check DATABASE_URL or --database-url."
            )
        _refuse_unknown(engine, script_directory(tables), found)


def status(engine: Engine, tables: Sequence[CrewTables] = ()) -> list[tuple[str, str, str]]:
    """(branch, revision in the database or "-", head) per branch, for `callcrew db status`."""
    script = script_directory(tables)
    with engine.connect() as conn:
        found = current(conn) if inspect(conn).has_table("alembic_version") else set()
    rows = []
    for branch in [ENGINE_BRANCH, *(t.branch for t in tables)]:
        head = _head(script, branch)
        in_db = [r for r in found if branch in _branches(script, r)]
        rows.append((branch, in_db[0] if in_db else "-", head))
    return rows


def _branches(script: ScriptDirectory, rev: str) -> set[str]:
    try:
        revision = script.get_revision(rev)
    except CommandError:
        return set()
    return set(revision.branch_labels) if revision is not None else set()


def _head(script: ScriptDirectory, branch: str) -> str:
    heads = [h for h in script.get_heads() if branch in _branches(script, h)]
    return heads[0] if heads else "-"
