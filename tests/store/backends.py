"""Migrated, empty test databases on SQLite and PostgreSQL, importable by any test package.

from tests.store.backends import make_store
store = await make_store("postgres", tmp_path)   # skips (fails when CI=true) without a server
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from functools import cache
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from store import Store, migrate
from store.tables import Base

BACKENDS = ("sqlite", "postgres")
POSTGRES_SERVER = os.environ.get("NUDGEFLOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")

_shared_database: str | None = None


@cache
def _postgres_problem() -> str | None:
    try:
        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        return str(exc).strip() or type(exc).__name__
    return None


def require_postgres() -> None:
    """Skip the calling test without a server; under CI=true a missing server is a failure."""
    problem = _postgres_problem()
    if problem is None:
        return
    message = f"PostgreSQL is not reachable at {POSTGRES_SERVER}: {problem}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _admin(statement: sql.Composed) -> None:
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as connection:
        connection.execute(statement)


def create_postgres_database(*, migrated: bool = True) -> str:
    """A fresh database `nudgeflow_test_<uuid8>`; drop it with drop_postgres_database."""
    require_postgres()
    name = f"nudgeflow_test_{uuid.uuid4().hex[:8]}"
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"{POSTGRES_SERVER}/{name}"
    if migrated:
        migrate(url)
    return url


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def shared_postgres_database() -> str:
    """One database per test session, created on first use and dropped at session end."""
    global _shared_database
    if _shared_database is None:
        _shared_database = create_postgres_database()
        atexit.register(drop_shared_postgres_database)
    return _shared_database


def drop_shared_postgres_database() -> None:
    global _shared_database
    if _shared_database is not None:
        drop_postgres_database(_shared_database)
        _shared_database = None


def empty_postgres_database(url: str) -> None:
    tables = sql.SQL(", ").join(sql.Identifier(table.name) for table in Base.metadata.sorted_tables)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(tables))


@cache
def _migrated_sqlite_file() -> Path:
    """A SQLite file this process migrated to head once, with no rows: the copy each test starts from.

    Migrating takes ~0.1 s of CPU and a few fsyncs; most tests open a fresh SQLite store, so every one
    paid that. Migrating to head is deterministic: the copy is the file `migrate` would have made.
    """
    folder = Path(tempfile.mkdtemp(prefix="nudgeflow-migrated-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    template = folder / "nudgeflow.db"
    migrate(f"sqlite+aiosqlite:///{template}")
    # The last connection closed checkpointed the write-ahead log into the file and removed it.
    assert not template.with_name(f"{template.name}-wal").exists(), "the migrated file is not whole"
    return template


def database_url(kind: str, tmp_path: Path) -> str:
    """The URL of a migrated database with no rows: a new file in tmp_path, or the shared one."""
    if kind == "sqlite":
        database = tmp_path / "nudgeflow.db"
        url = f"sqlite+aiosqlite:///{database}"
        if database.exists():
            migrate(url)  # a test's second store on the same file: keep what the first wrote
        else:
            shutil.copyfile(_migrated_sqlite_file(), database)
        return url
    if kind == "postgres":
        url = shared_postgres_database()
        empty_postgres_database(url)
        return url
    raise ValueError(f"unknown backend {kind!r}; expected one of {BACKENDS}")


async def make_store(kind: str, tmp_path: Path) -> Store:
    """A Store on an empty, migrated database; the caller closes it."""
    return Store(database_url(kind, tmp_path))
