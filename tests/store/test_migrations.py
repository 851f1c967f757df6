"""Migrations build exactly the schema the ORM expects, from any cwd, any number of times."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from store import migrate
from store.engine import make_sync_engine
from store.migrate import alembic_config
from store.tables import Base
from tests.store.backends import create_postgres_database, database_url, drop_postgres_database

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def unmigrated_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'nudgeflow.db'}"
        return
    url = create_postgres_database(migrated=False)
    yield url
    drop_postgres_database(url)


def _schema_difference(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _version(url: str) -> list[str]:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.scalars(text("SELECT version_num FROM alembic_version")))
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_orm_models(backend: str, tmp_path: Path) -> None:
    engine = make_sync_engine(database_url(backend, tmp_path))
    try:
        with engine.connect() as connection:
            assert _schema_difference(connection) == []
    finally:
        engine.dispose()


def heads() -> list[str]:
    """Every migration branch's newest revision: what a fully migrated database records."""
    return sorted(ScriptDirectory.from_config(alembic_config()).get_heads())


def test_migrating_twice_changes_nothing(unmigrated_url: str) -> None:
    migrate(unmigrated_url)
    engine = make_sync_engine(unmigrated_url)
    with engine.connect() as connection:
        tables_before = sorted(inspect(connection).get_table_names())
    engine.dispose()

    migrate(unmigrated_url)

    engine = make_sync_engine(unmigrated_url)
    with engine.connect() as connection:
        assert sorted(inspect(connection).get_table_names()) == tables_before
    engine.dispose()
    assert sorted(_version(unmigrated_url)) == heads()
    assert {"tenants", "deliveries", "delivery_attempts"} <= set(tables_before)


def test_two_processes_migrating_at_once_both_succeed(unmigrated_url: str, tmp_path: Path) -> None:
    # The API and the worker each migrate at start-up; neither may trip over the other.
    command = [sys.executable, "-c", "import store, sys; store.migrate(sys.argv[1])", unmigrated_url]
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    processes = [
        subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    errors = [process.communicate(timeout=60)[1] for process in processes]

    assert [process.returncode for process in processes] == [0, 0], errors
    assert sorted(_version(unmigrated_url)) == heads()
