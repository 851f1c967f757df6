"""Turn the one DATABASE_URL into async and sync engines for SQLite or PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

_SQLITE = {"sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"}
_POSTGRES = {"postgres", "postgresql", "postgresql+psycopg"}

# The API and the worker write the same SQLite file: WAL lets readers run beside the writer,
# and the busy timeout makes a second writer wait for the lock instead of failing at once.
SQLITE_PRAGMAS = ("PRAGMA busy_timeout=10000", "PRAGMA foreign_keys=ON")
WAL_SWITCH_RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
# Connections beyond the pool are closed after each use: under a burst a new PostgreSQL backend (a
# fork), or a new SQLite connection (a thread, the file opened, the pragmas run), per transaction.
# Keep as many as a busy process uses at once.
POOL_SIZE = 20
# A pooled PostgreSQL connection idle this long is pinged before use (a dead one is replaced); one
# used more recently is not (HikariCP's aliveBypassWindowMs, 500 ms): a ping per checkout was a round
# trip per store call.
PING_AFTER_IDLE_S = 0.5
# Seconds to open a PostgreSQL connection before the store counts as unreachable (a 503 at the API).
CONNECT_TIMEOUT_S = 5


def _parse(url: str) -> URL:
    parsed = make_url(url)
    if parsed.drivername not in _SQLITE | _POSTGRES:
        raise ValueError(
            f"unsupported database URL scheme {parsed.drivername!r}: "
            "use sqlite:///path, sqlite+aiosqlite:///path, postgresql://… or postgresql+psycopg://…"
        )
    return parsed


def _with_driver(url: str, sqlite_driver: str) -> str:
    parsed = _parse(url)
    driver = sqlite_driver if parsed.drivername in _SQLITE else "postgresql+psycopg"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def async_url(url: str) -> str:
    """The URL for the async engine: aiosqlite for SQLite, psycopg 3 for PostgreSQL."""
    return _with_driver(url, "sqlite+aiosqlite")


def sync_url(url: str) -> str:
    """The URL for a sync engine (migrations): the stdlib sqlite3 driver or psycopg 3."""
    return _with_driver(url, "sqlite")


def is_sqlite(url: str) -> bool:
    return _parse(url).drivername in _SQLITE


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for PostgreSQL and in-memory databases."""
    if not is_sqlite(url):
        return None
    database = _parse(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _prepare_sqlite_file(url: str) -> None:
    database = sqlite_file(url)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)


def _switch_to_wal(cursor: Any) -> None:
    # WAL sticks to the file, so this runs once per new file; but when two processes open a new
    # file at once SQLite reports the loser as locked without waiting out the busy timeout.
    for delay in (*WAL_SWITCH_RETRY_DELAYS, None):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if delay is None:
                raise
            time.sleep(delay)


def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.execute("PRAGMA journal_mode")
    if cursor.fetchone()[0] != "wal":
        _switch_to_wal(cursor)
    cursor.close()


def make_async_engine(url: str) -> AsyncEngine:
    if is_sqlite(url):
        _prepare_sqlite_file(url)
        engine = create_async_engine(async_url(url), pool_size=POOL_SIZE, max_overflow=POOL_SIZE)
        event.listen(engine.sync_engine, "connect", _set_pragmas)
        return engine
    # A URL may set its own connect_timeout; without one a server that accepts and never answers would
    # hold every request that needs a new connection for as long as the client waits.
    timeout = {} if "connect_timeout" in _parse(url).query else {"connect_timeout": CONNECT_TIMEOUT_S}
    engine = create_async_engine(
        async_url(url), pool_size=POOL_SIZE, max_overflow=POOL_SIZE, connect_args=timeout
    )
    event.listen(engine.sync_engine, "checkin", _note_idle_since)
    event.listen(engine.sync_engine, "checkout", _ping_if_idle(engine.dialect))
    return engine


def reading(engine: AsyncEngine) -> AsyncEngine:
    """The engine for reads. On PostgreSQL they take no transaction: at READ COMMITTED each statement
    sees its own snapshot anyway, so a BEGIN and a ROLLBACK around them were two round trips that
    bought nothing. SQLite's driver already begins a transaction only before a write."""
    if engine.dialect.name == "sqlite":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _note_idle_since(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dialect: Dialect) -> Callable[[Any, ConnectionPoolEntry, PoolProxiedConnection], None]:
    """pool_pre_ping for a connection idle PING_AFTER_IDLE_S or longer: a dead one raises
    DisconnectionError, and the pool opens a new one in its place (SQLAlchemy's documented recipe)."""

    def ping(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return  # new, or in use a moment ago
        try:
            alive = dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if not dialect.is_disconnect(exc, dbapi_connection, None):
                raise
            alive = False
        if not alive:
            raise DisconnectionError("the pooled connection was closed by the server")

    return ping


def _take_over_transactions(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sync_engine(url: str) -> Engine:
    """A sync engine for migrations: on SQLite every transaction, DDL included, is real.

    The stdlib driver neither wraps DDL in a transaction nor takes the write lock up front, so
    two processes migrating one file at start-up could both create the same table. BEGIN
    IMMEDIATE makes the second wait for the first and then find the schema at head.
    """
    if is_sqlite(url):
        _prepare_sqlite_file(url)
        engine = create_engine(sync_url(url))
        event.listen(engine, "connect", _set_pragmas)
        event.listen(engine, "connect", _take_over_transactions)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(sync_url(url), pool_pre_ping=True)
