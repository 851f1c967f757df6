"""Bring a database to the newest schema: `alembic upgrade head` without an alembic.ini."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from store.engine import make_sync_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """The config `alembic` would read from an ini file, built in code so any cwd works."""
    # Imported here: the worker and the API never migrate, and alembic was about a tenth of their
    # start-up (every process a deploy, a failover or a test starts imports `store`).
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


def migrate(database_url: str) -> None:
    """Upgrade to head; safe to run again and from two processes at once."""
    from alembic import command

    config = alembic_config()
    engine = make_sync_engine(database_url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            # "heads": feature migrations may branch from the same parent; each applies once.
            command.upgrade(config, "heads")
    finally:
        engine.dispose()
