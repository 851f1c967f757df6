"""Alembic environment: upgrade the connection store.migrate hands over, or DATABASE_URL's."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, text

from store.engine import make_sync_engine, sync_url
from store.tables import Base

# Any constant works; it only has to be the same for every process migrating this database.
POSTGRES_MIGRATION_LOCK = 7_301_946_112

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or os.environ["DATABASE_URL"]


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # The API and the worker may both migrate at start-up; the second waits here.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_MIGRATION_LOCK})
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=sync_url(_database_url()), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (given := config.attributes.get("connection")) is not None:
    _run(given)
else:
    engine = make_sync_engine(_database_url())
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()
