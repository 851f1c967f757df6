"""A store or Temporal that goes away: 503 problem+json with Retry-After, `/readyz` naming what is down."""

from __future__ import annotations

import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.problems import STORE_OUTAGES
from config import Settings
from store import Store
from store.engine import CONNECT_TIMEOUT_S
from tests.api.test_relay import STRUCTURED, Gate, api, cloud_event, eventually
from tests.factories import appointment
from tests.store.backends import create_postgres_database, drop_postgres_database, make_store

PROBLEM = "application/problem+json"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


def assert_store_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["title"] == "Store unavailable"


async def test_with_postgresql_unreachable_routes_answer_503_problems_and_readyz_names_the_store(
    dev_env: WorkflowEnvironment, postgres_url: str, task_queue: str
) -> None:
    gate = Gate("127.0.0.1:5432")
    await gate.open()
    store = Store(postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{gate.listen_port}"))
    appointment_id = f"outage-{uuid.uuid4().hex[:8]}"
    body = cloud_event(
        "appointment.confirmed", appointment(appointment_id, datetime.now(UTC) + timedelta(days=2)), "o-1"
    )
    try:
        async with api(Settings(task_queue=task_queue), store, dev_env.client) as client:
            assert (await client.get("/readyz")).status_code == 200

            await gate.shut()
            assert_store_unavailable(await client.get("/v1/deliveries", headers=STRUCTURED))
            assert_store_unavailable(await client.post("/v1/events", headers=STRUCTURED, content=body))
            not_ready = await client.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.headers["content-type"] == PROBLEM
            assert "retry-after" in not_ready.headers
            assert not_ready.json()["detail"].endswith(": store"), "only the store is down"
            assert (await client.get("/healthz")).status_code == 200, "liveness: the process is up"

            await gate.open()  # PostgreSQL is back on the same address

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await eventually(ready)
            accepted = await client.post("/v1/events", headers=STRUCTURED, content=body)
            assert accepted.status_code == 202, accepted.text
            assert (await client.get("/v1/deliveries", headers=STRUCTURED)).status_code == 200
    finally:
        await gate.shut()
        await store.close()


async def test_readyz_names_temporal_when_it_does_not_answer(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    store = await make_store("sqlite", tmp_path)
    gate = Gate(dev_env.client.service_client.config.target_host)
    await gate.open()
    temporal = await Client.connect(
        f"127.0.0.1:{gate.listen_port}", namespace="default", data_converter=pydantic_data_converter
    )
    try:
        async with api(Settings(task_queue=task_queue), store, temporal) as client:
            assert (await client.get("/readyz")).status_code == 200
            await gate.shut()
            not_ready = await client.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.headers["content-type"] == PROBLEM
            assert not_ready.json()["detail"].endswith(": temporal"), not_ready.json()
    finally:
        await gate.shut()
        await store.close()


async def test_a_lifecycle_starts_with_the_configured_workflow_task_timeout(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    """A task held by a worker that died waits this long for another worker, not Temporal's 10 s."""
    store = await make_store("sqlite", tmp_path)
    appointment_id = f"timeout-{uuid.uuid4().hex[:8]}"
    data = appointment(appointment_id, datetime.now(UTC) + timedelta(days=2))
    try:
        async with api(
            Settings(task_queue=task_queue, workflow_task_timeout=3), store, dev_env.client
        ) as client:
            posted = await client.post(
                "/v1/events", headers=STRUCTURED, content=cloud_event("appointment.confirmed", data, "t-1")
            )
            assert posted.status_code == 202, posted.text
            handle = dev_env.client.get_workflow_handle(f"appointment:demo:{appointment_id}")

            async def started() -> bool:
                try:
                    await handle.describe()
                except Exception:
                    return False
                return True

            await eventually(started)
            config = (await handle.describe()).raw_description.execution_config
            assert config.default_workflow_task_timeout.ToTimedelta() == timedelta(seconds=3)
            await handle.terminate()
    finally:
        await store.close()


async def test_a_postgresql_that_accepts_and_never_answers_fails_a_request_in_seconds() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        store = Store(f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/nudgeflow")
        began = time.monotonic()
        with pytest.raises(STORE_OUTAGES):
            await store.tenant_for_api_key("demo-key")
        await store.close()
    assert time.monotonic() - began < CONNECT_TIMEOUT_S + 3


async def test_a_store_error_that_is_a_bug_is_a_500_problem_that_shows_no_sql(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    store = await make_store("sqlite", tmp_path)
    app = create_app(Settings(task_queue=task_queue), store=store, temporal=dev_env.client)
    try:
        async with app.router.lifespan_context(app):
            with sqlite3.connect(tmp_path / "nudgeflow.db") as database:
                database.execute("DROP TABLE deliveries")  # SQLite calls this an OperationalError too
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://nudgeflow") as client:
                answer = await client.get("/v1/deliveries", headers=STRUCTURED)
        assert answer.status_code == 500
        assert answer.headers["content-type"] == PROBLEM
        assert "retry-after" not in answer.headers
        assert "deliveries" not in answer.text and "SELECT" not in answer.text
    finally:
        await store.close()
