"""Database engine: SQLite by default, Postgres by URL; write transactions serialised.

SQLite needs care to be safe with several writers (threads of one worker, or several worker
processes on one file):

- WAL so readers never block the writer, `busy_timeout` so a writer waits for the lock instead
  of failing at once, and `foreign_keys=ON` because SQLite leaves it off by default.
- pysqlite's own transaction handling is switched off (`isolation_level = None`) and SQLAlchemy
  emits BEGIN itself. Connections carrying the `WRITE` execution option begin with
  `BEGIN IMMEDIATE`, which takes the database's write lock up front: a check-then-insert
  (is it free? take it) is then atomic against every other writer. A plain deferred
  BEGIN would let two transactions both read "free" and one would fail only at commit time,
  or worse, with a lock upgrade deadlock.

On Postgres the same write transactions take a transaction-scoped advisory lock instead (see
`lock_for_write`), which serialises check-then-write transactions without locking tables.
The schema is brought up to date by `migrate.py` (Alembic) when the engine opens.

Read-only opens (`read_only=True`, for `callcrew calls ...`) neither migrate nor take the write
lock nor switch the journal mode, so they work on a read-only copy of the file and beside a
worker that is writing; a missing SQLite file is `StoreNotFound`, never silently created.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from callcrew.redact import mask_urls
from callcrew.store.errors import StoreNotFound, StoreUnavailable

if TYPE_CHECKING:
    from callcrew.call import CrewTables

# Execution option marking a connection whose transaction will write.
WRITE = "callcrew_write"

# Arbitrary constant naming the store's write advisory lock on Postgres.
_PG_LOCK_KEY = 0x63616C6C  # "call"


def is_memory(engine: Engine) -> bool:
    url = engine.url
    return url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or "mode=memory" in str(url.database)
    )


def normalise_url(url: str) -> str:
    """postgres:// (what hosting providers hand out) -> the psycopg 3 driver URL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def shown_url(url: str | URL) -> str:
    """The URL as messages may show it: password masked."""
    return mask_urls(str(url) if isinstance(url, str) else url.render_as_string())


def parse_url(url: str) -> URL:
    """A SQLAlchemy URL for SQLite or Postgres, or StoreUnavailable saying what is wrong."""
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError:
        raise StoreUnavailable(
            f"{shown_url(url)!r} is not a database URL "
            "(e.g. sqlite:///var/callcrew.db or postgresql+psycopg://user@host/db)"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreUnavailable(
            f"{shown_url(url)}: callcrew stores calls in SQLite or Postgres only "
            "(sqlite:///path.db or postgresql+psycopg://user@host/db)"
        )
    return parsed


def sqlite_path(parsed: URL) -> Path | None:
    """The file a SQLite URL names (None: in memory or a `file:` URI)."""
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser().absolute()


def make_engine(url: str, *, read_only: bool = False, tables: Sequence[CrewTables] = ()) -> Engine:
    """Open the database at `url`: created and migrated (the engine's tables and `tables`, the
    crew's), or (read_only) only if it exists."""
    from callcrew.store import migrate

    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {}
    path = sqlite_path(parsed)
    if backend == "sqlite":
        if path is None and (parsed.database or "") in ("", ":memory:"):
            # One shared connection, or every thread would see its own empty database.
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
        elif path is not None and read_only:
            if not path.is_file():
                raise StoreNotFound(_no_store(path, parsed))
            parsed = _read_only_uri(parsed, path)
        elif path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(
                    f"Cannot create the store at {path}: {exc.strerror or exc}"
                ) from None
    elif read_only:
        kwargs["connect_args"] = {"options": "-c default_transaction_read_only=on"}
    try:
        engine = create_engine(parsed, **kwargs)
    except (ImportError, NoSuchModuleError) as exc:
        raise StoreUnavailable(
            f"{shown_url(parsed)}: the database driver is not installed ({exc}); "
            "for Postgres: pip install 'callcrew[postgres]'"
        ) from None
    if backend == "sqlite":
        _install_sqlite_hooks(engine, read_only=read_only)
    try:
        if read_only:
            migrate.check(engine, tables, str(path) if path else None)
        else:
            migrate.upgrade(engine, tables)
    except DBAPIError as exc:
        engine.dispose()
        raise StoreUnavailable(_cannot_open(parsed, exc)) from None
    except BaseException:
        engine.dispose()
        raise
    return engine


def _no_store(path: Path, parsed: URL) -> str:
    given = parsed.database or ""
    relative = (
        ""
        if Path(given).expanduser().is_absolute()
        else (f" (the URL's path is relative to the current folder, {Path.cwd()})")
    )
    return (
        f"No store at {path}{relative}: check DATABASE_URL or --database-url; "
        "a store is created by the worker or `callcrew simulate --database-url`."
    )


def _read_only_uri(parsed: URL, path: Path) -> URL:
    # A file we may not write (a read-only copy) is opened immutable: SQLite then needs no
    # -shm/-wal beside it. A writable one is opened mode=ro, which still sees a live writer.
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    mode = {"mode": "ro"} if writable else {"immutable": "1"}
    return parsed.set(database=f"file:{quote(str(path))}", query={**mode, "uri": "true"})


def _cannot_open(parsed: URL, exc: DBAPIError) -> str:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    if "locked" in reason:
        reason += " (another process holds the write lock; try again when it is done)"
    return mask_urls(f"Cannot open the store at {shown_url(parsed)}: {reason}")


def _install_sqlite_hooks(engine: Engine, *, read_only: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA busy_timeout=5000")
            if not read_only:
                # Switching the journal mode writes the file; a reader must not.
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
