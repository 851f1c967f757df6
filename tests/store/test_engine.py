"""One DATABASE_URL in any accepted spelling opens the right driver, and SQLite is set up to share."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from store import Store, async_url, sync_url


@pytest.mark.parametrize(
    ("given", "for_async", "for_sync"),
    [
        ("sqlite:///data/n.db", "sqlite+aiosqlite:///data/n.db", "sqlite:///data/n.db"),
        ("sqlite+aiosqlite:////abs/n.db", "sqlite+aiosqlite:////abs/n.db", "sqlite:////abs/n.db"),
        (
            "postgresql://u:p%40ss@db:5432/app",
            "postgresql+psycopg://u:p%40ss@db:5432/app",
            "postgresql+psycopg://u:p%40ss@db:5432/app",
        ),
        ("postgresql+psycopg://db/app", "postgresql+psycopg://db/app", "postgresql+psycopg://db/app"),
    ],
)
def test_each_accepted_url_maps_to_the_async_and_sync_drivers(
    given: str, for_async: str, for_sync: str
) -> None:
    assert (async_url(given), sync_url(given)) == (for_async, for_sync)


def test_an_unsupported_url_is_refused_with_the_accepted_forms() -> None:
    with pytest.raises(ValueError, match="postgresql"):
        async_url("mysql://db/app")


async def test_a_sqlite_store_creates_the_missing_folder_and_shares_the_file_safely(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'missing' / 'nudgeflow.db'}")
    try:
        async with store.engine.connect() as connection:
            pragmas = [
                (await connection.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            ]
    finally:
        await store.close()

    assert (tmp_path / "missing").is_dir()
    assert pragmas == ["wal", 10000, 1]
