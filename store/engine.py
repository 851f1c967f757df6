"""Turn the one DATABASE_URL into async and sync engines for SQLite or PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, create_engine, event
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

_SQLITE = {"sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"}
_POSTGRES = {"postgres", "postgresql", "postgresql+psycopg", "postgresql+asyncpg"}

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
            "use sqlite:///path, sqlite+aiosqlite:///path, postgresql://…, postgresql+psycopg://… "
            "or postgresql+asyncpg://…"
        )
    return parsed


def _with_driver(url: str, sqlite_driver: str, postgres_driver: str) -> str:
    parsed = _parse(url)
    driver = sqlite_driver if parsed.drivername in _SQLITE else postgres_driver
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def async_url(url: str) -> str:
    """The URL for the async engine: aiosqlite for SQLite, asyncpg for PostgreSQL (a send's store
    calls cost 15-28 % less CPU than through psycopg's async driver, 2026-12). make_async_engine
    hands asyncpg the URL's libpq options as it takes them."""
    return _with_driver(url, "sqlite+aiosqlite", "postgresql+asyncpg")


def sync_url(url: str) -> str:
    """The URL for a sync engine (migrations): the stdlib sqlite3 driver or psycopg 3."""
    return _with_driver(url, "sqlite", "postgresql+psycopg")


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
    engine_url, connect_args = asyncpg_arguments(url)
    engine = create_async_engine(
        engine_url, pool_size=POOL_SIZE, max_overflow=POOL_SIZE, connect_args=connect_args
    )
    event.listen(engine.sync_engine, "do_connect", _connect_or_operational_error)
    event.listen(engine.sync_engine, "handle_error", _operational_as_libpq_calls_it)
    event.listen(engine.sync_engine, "checkin", _note_idle_since)
    event.listen(engine.sync_engine, "checkout", _ping_if_idle(engine.dialect))
    return engine


# Query keys SQLAlchemy reads itself (a socket directory, several hosts; its statement cache size).
_SQLALCHEMY_KEYS = {"host", "port", "prepared_statement_cache_size"}


def asyncpg_arguments(url: str) -> tuple[URL, dict[str, Any]]:
    """The URL's libpq options as asyncpg takes them: from a DSN of their own (sslmode,
    application_name, options…), except connect_timeout, which asyncpg calls `timeout`."""
    parsed = make_url(async_url(url))
    libpq = {key: value for key, value in parsed.query.items() if key not in _SQLALCHEMY_KEYS}
    connect_args: dict[str, Any] = {"timeout": _connect_timeout(libpq.pop("connect_timeout", None))}
    if libpq:
        connect_args["dsn"] = URL.create("postgresql", query=libpq).render_as_string()
    return parsed.difference_update_query(libpq.keys() | {"connect_timeout"}), connect_args


def _connect_timeout(given: str | tuple[str, ...] | None) -> float | None:
    """libpq's rule: none given is ours; zero or less waits for ever (None); under 2 s is 2 s.

    Without a limit a server that accepts and never answers would hold every request that needs a
    new connection for as long as the client waits."""
    if given is None:
        return CONNECT_TIMEOUT_S
    seconds = int(given if isinstance(given, str) else given[-1])
    return None if seconds <= 0 else max(seconds, 2)


def _connect_or_operational_error(
    dialect: Dialect, _record: ConnectionPoolEntry, cargs: tuple[Any, ...], cparams: dict[str, Any]
) -> Any:
    """A connection that cannot be opened is an OperationalError (the API's 503), as libpq reports it
    whatever the cause: asyncpg raises a refused, unreachable or silent server as the bare OSError
    (TimeoutError is one), which SQLAlchemy would let through unwrapped, and what the server refused
    (a database missing while it is restored, a role) as whatever its SQLSTATE says."""
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as exc:
        raise dialect.loaded_dbapi.OperationalError(f"could not connect to PostgreSQL: {exc!r}") from exc
    except dialect.loaded_dbapi.Error as exc:
        if isinstance(exc, dialect.loaded_dbapi.OperationalError):
            raise
        refused = exc.__cause__ if isinstance(exc.__cause__, Exception) else None  # asyncpg's, its SQLSTATE
        raise dialect.loaded_dbapi.OperationalError(str(exc), refused) from exc


# SQLSTATE classes psycopg (and libpq's other drivers) raise as OperationalError: the server is away,
# overloaded, shutting down or rolled the transaction back. SQLAlchemy's asyncpg dialect names most of
# them only DBAPIError, which the API would answer with a 500 instead of a 503.
OPERATIONAL_SQLSTATE_CLASSES = frozenset(
    {"08", "27", "28", "2F", "38", "39", "3B", "40", "53", "54", "55", "57", "58", "F0", "HV"}
)


def _operational_as_libpq_calls_it(context: ExceptionContext) -> DBAPIError | None:
    """A statement's error in one of those classes, raised as the OperationalError psycopg raised."""
    sqlstate = getattr(context.original_exception, "sqlstate", None)
    error = context.sqlalchemy_exception
    if (
        not sqlstate
        or sqlstate[:2] not in OPERATIONAL_SQLSTATE_CLASSES
        or error is None
        or isinstance(error, OperationalError)
    ):
        return None
    return OperationalError(
        error.statement,
        error.params,
        context.original_exception,
        hide_parameters=error.hide_parameters,
        connection_invalidated=context.is_disconnect,
    )


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
