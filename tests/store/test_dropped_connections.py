"""PostgreSQL dropped the store's connections (a restart, a failover, an idle timeout): the next call
after a pause goes through on a new connection, and nobody sees the dead one."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from store import Store
from store.engine import PING_AFTER_IDLE_S
from tests.store.backends import create_postgres_database, drop_postgres_database


def drop_connections(url: str) -> int:
    """What a PostgreSQL restart does to the clients of one database: every backend ended."""
    database = psycopg.conninfo.conninfo_to_dict(url.replace("+psycopg", ""))["dbname"]
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchone()
    return int(ended[0]) if ended else 0


async def test_after_postgresql_dropped_every_connection_the_next_call_goes_through() -> None:
    url = create_postgres_database()
    store = Store(url)
    try:
        await store.ensure_tenant("demo", "Demo clinic", "demo-key")
        # Several connections in the pool, as under load.
        await asyncio.gather(*(store.get_settings("demo") for _ in range(5)))
        assert drop_connections(url) >= 1
        await asyncio.sleep(PING_AFTER_IDLE_S + 0.2)  # idle past the window: checked before use

        for _ in range(6):  # each pooled connection in turn, and a new one
            assert (await store.get_settings("demo")).timezone
        assert await store.tenant_for_api_key("demo-key") == "demo"
    finally:
        await store.close()
        drop_postgres_database(url)


async def test_a_connection_ended_in_the_middle_of_a_transaction_is_an_operational_error() -> None:
    """What the API answers with a 503 to retry (api/problems.py), as libpq's drivers call it."""
    url = create_postgres_database()
    store = Store(url)
    try:
        async with store.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            assert drop_connections(url) == 1
            with pytest.raises(OperationalError):
                await connection.execute(text("SELECT 1"))
        assert await store.tenant_for_api_key("demo-key") is None, "the pool opens a new connection"
    finally:
        await store.close()
        drop_postgres_database(url)


async def test_a_database_that_refuses_the_connection_is_an_operational_error() -> None:
    """Gone while it is restored: libpq's drivers call every connection refused an OperationalError."""
    url = create_postgres_database()
    drop_postgres_database(url)
    store = Store(url)
    try:
        with pytest.raises(OperationalError, match="does not exist"):
            await store.tenant_for_api_key("demo-key")
    finally:
        await store.close()
