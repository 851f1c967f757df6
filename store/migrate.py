"""Bring a database to the newest schema: `alembic upgrade head` without an alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from store.engine import make_sync_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """The config `alembic` would read from an ini file, built in code so any cwd works."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


def migrate(database_url: str) -> None:
    """Upgrade to head; safe to run again and from two processes at once."""
    config = alembic_config()
    engine = make_sync_engine(database_url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            # "heads": feature migrations may branch from the same parent; each applies once.
            command.upgrade(config, "heads")
    finally:
        engine.dispose()
