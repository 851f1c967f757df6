"""Fixtures: a `store` on each backend, SQLite always and PostgreSQL when a server is up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from store import Store
from tests.store.backends import drop_shared_postgres_database, make_store


@pytest.fixture(scope="session", autouse=True)
def _drop_postgres_database_at_session_end() -> Iterator[None]:
    yield
    drop_shared_postgres_database()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
async def store(backend: str, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await make_store(backend, tmp_path)
    yield opened
    await opened.close()
