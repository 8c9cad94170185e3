"""Database engine: SQLite by default, Postgres by URL, and the schema "migrations".

SQLite needs care to be safe with several writers (threads of one worker, or several worker
processes on one file):

- WAL so readers never block the writer, `busy_timeout` so a writer waits for the lock instead
  of failing at once, and `foreign_keys=ON` because SQLite leaves it off by default.
- pysqlite's own transaction handling is switched off (`isolation_level = None`) and SQLAlchemy
  emits BEGIN itself. Connections carrying the `WRITE` execution option begin with
  `BEGIN IMMEDIATE`, which takes the database's write lock up front: a check-then-insert
  (is the slot free? book it) is then atomic against every other writer. A plain deferred
  BEGIN would let two transactions both read "free" and one would fail only at commit time,
  or worse, with a lock upgrade deadlock.

On Postgres the same write transactions take a transaction-scoped advisory lock instead (see
`lock_for_write`), which serialises bookings without locking whole tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from callcrew.store.errors import SchemaTooNew
from callcrew.store.models import Base, SchemaVersion

SCHEMA_VERSION = 1

# Execution option marking a connection whose transaction will write.
WRITE = "callcrew_write"

# Arbitrary constant naming the "appointments" advisory lock on Postgres.
_PG_LOCK_KEY = 0x63616C6C  # "call"


def is_memory(engine: Engine) -> bool:
    url = engine.url
    return url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or "mode=memory" in str(url.database)
    )


def make_engine(url: str) -> Engine:
    """Open (and if needed create) the database at `url`, with its schema up to date."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            # One shared connection, or every thread would see its own empty database.
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
        elif not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, **kwargs)
    if backend == "sqlite":
        _install_sqlite_hooks(engine)
    migrate(engine)
    return engine


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def lock_for_write(conn: Connection) -> None:
    """Serialise this write transaction against other writers (SQLite: already done by BEGIN)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")


def migrate(engine: Engine) -> None:
    """Bring the schema to `SCHEMA_VERSION`; refuse a database written by a newer callcrew.

    Version 1 is the first schema, so "migrating" is `create_all`; later versions add steps
    here, each moving the recorded version up by one.
    """
    writer = engine.execution_options(**{WRITE: True})
    with writer.begin() as conn:
        lock_for_write(conn)
        found: int | None = None
        if inspect(conn).has_table(SchemaVersion.__tablename__):
            found = conn.execute(select(SchemaVersion.version)).scalar_one_or_none()
        if found is not None and found > SCHEMA_VERSION:
            where = engine.url.render_as_string(hide_password=True)
            raise SchemaTooNew(
                f"The database at {where} has schema version {found}, but this callcrew only "
                f"knows versions up to {SCHEMA_VERSION}; upgrade callcrew to use it."
            )
        Base.metadata.create_all(conn)
        if found is None:
            conn.execute(insert(SchemaVersion).values(id=1, version=SCHEMA_VERSION))
