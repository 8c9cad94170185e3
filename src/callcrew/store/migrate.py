"""Schema migrations: Alembic branches for the engine (`callcrew`) and each crew, run in code.

One database, several owners: the engine's tables (call reports, outbox) and the active crew's
(`Crew.tables`) each have their own Alembic branch, versions directory and version table.
Opening a store upgrades every owner to its head inside one write transaction (BEGIN IMMEDIATE
on SQLite, the advisory lock on Postgres), so two workers starting together migrate once. No
alembic.ini or env.py is needed at run time. A store made before migrations (a
`schema_version` table) is taken up by the baselines, which create only the tables it lacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Owner:
    """One owner of the schema: its Alembic branch, versions directory and version table.

    Each owner records its revision in its own table (`alembic_version` for the engine,
    `alembic_version_<branch>` for a crew), so a store another crew has also used (CREW
    changed, two crews on one database) never holds a revision this run cannot place."""

    branch: str
    versions: Path

    @property
    def version_table(self) -> str:
        return (
            "alembic_version" if self.branch == ENGINE_BRANCH else f"alembic_version_{self.branch}"
        )

    def script(self) -> ScriptDirectory:
        return ScriptDirectory(str(ENGINE_MIGRATIONS), version_locations=[str(self.versions)])


def owners(tables: Sequence[CrewTables] = ()) -> list[Owner]:
    engine = Owner(ENGINE_BRANCH, ENGINE_MIGRATIONS / "versions")
    return [engine, *(Owner(t.branch, Path(t.migrations)) for t in tables)]


def _config(script: ScriptDirectory) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", script.dir)
    cfg.set_main_option("version_locations", " ".join(script.version_locations or []))
    return cfg


def _upgrade_owner(conn: Connection, owner: Owner) -> None:
    script = owner.script()

    def step(rev: Any, _context: Any) -> Any:
        return script._upgrade_revs("heads", rev)

    with EnvironmentContext(_config(script), script, fn=step) as env:
        env.configure(connection=conn, version_table=owner.version_table)
        with env.begin_transaction():
            env.run_migrations()


def current(conn: Connection, owner: Owner) -> set[str]:
    if not inspect(conn).has_table(owner.version_table):
        return set()
    context = MigrationContext.configure(conn, opts={"version_table": owner.version_table})
    return set(context.get_current_heads())


def _refuse_unknown(engine: Engine, owner: Owner, found: set[str]) -> None:
    script = owner.script()
    unknown = []
    for rev in found:
        try:
            script.get_revision(rev)
        except CommandError:
            unknown.append(rev)
    if unknown:
        raise SchemaTooNew(
            f"The database at {shown_url(engine.url)} has {owner.branch} schema revision(s) "
            f"{', '.join(sorted(unknown))}, which this code does not know; upgrade callcrew "
            "(or the crew)."
        )


def _legacy_version(conn: Connection) -> int | None:
    if not inspect(conn).has_table(LEGACY_TABLE):
        return None
    value = conn.execute(text(f"SELECT version FROM {LEGACY_TABLE}")).scalar()
    return int(value) if value is not None else None


def upgrade(engine: Engine, tables: Sequence[CrewTables] = ()) -> None:
    """Upgrade the engine's branch and each crew's to their heads (or refuse a newer store)."""
    writer = engine.execution_options(**{WRITE: True})
    with writer.begin() as conn:
        lock_for_write(conn)
        legacy = _legacy_version(conn)
        if legacy is not None and legacy > LEGACY_VERSION:
            raise SchemaTooNew(
                f"The database at {shown_url(engine.url)} has schema version {legacy}, but this "
                f"callcrew knows only up to {LEGACY_VERSION}; upgrade callcrew."
            )
        for owner in owners(tables):
            _refuse_unknown(engine, owner, current(conn, owner))
        for owner in owners(tables):
            _upgrade_owner(conn, owner)


def check(engine: Engine, tables: Sequence[CrewTables] = (), shown: str | None = None) -> None:
    """Read-only open: a migrated store whose revisions we know; nothing is written."""
    with engine.connect() as conn:
        found = {o.branch: current(conn, o) for o in owners(tables)}
        if not found[ENGINE_BRANCH] and _legacy_version(conn) is None:
            raise StoreNotFound(
                f"{shown or shown_url(engine.url)} holds no callcrew store (no alembic_version "
                "table); check DATABASE_URL or --database-url."
            )
        for owner in owners(tables):
            _refuse_unknown(engine, owner, found[owner.branch])


def status(engine: Engine, tables: Sequence[CrewTables] = ()) -> list[tuple[str, str, str]]:
    """(branch, revision in the database or "-", head) per owner, for `callcrew db status`."""
    rows = []
    with engine.connect() as conn:
        for owner in owners(tables):
            found = sorted(current(conn, owner))
            heads = owner.script().get_heads()
            rows.append((owner.branch, found[0] if found else "-", heads[0] if heads else "-"))
    return rows
