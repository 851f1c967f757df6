"""The relay under poison and company: one tenant's refused events stop nobody, two replicas never
deliver one event twice. Counted where it matters: signals in the workflows' histories.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from prometheus_client import REGISTRY
from sqlalchemy import insert
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api import relay as relay_module
from api.app import create_app
from api.relay import Relay
from config import Settings
from domain.events import DomainEvent
from store import Store
from store.tables import InboundEventRow, utcnow
from tests.api.test_relay import Gate, cloud_event, eventually, is_running, outbox_is_empty, signalled_ids
from tests.factories import appointment
from tests.store.backends import make_store

# SQL that differs by backend: each test runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

STARTS_AT = datetime.now(UTC) + timedelta(days=2)


@pytest_asyncio.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await make_store("sqlite", tmp_path)
    await store.ensure_tenant("demo", "Demo clinic", "demo-key")
    yield store
    await store.close()


@contextlib.asynccontextmanager
async def api(settings: Settings, store: Store, env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, store=store, temporal=env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nudgeflow") as client:
            yield client


def outbox_row(
    tenant: str, event_id: str, aggregate_id: str, attempts: int = 0, **extra: Any
) -> dict[str, Any]:
    """An outbox row as POST /v1/events stores it (no lease: a process that crashed, or an old one)."""
    data = appointment(aggregate_id, STARTS_AT) | extra
    event = DomainEvent(
        id=event_id,
        source="/crm",
        type="appointment.confirmed",
        tenant=tenant,
        data=data,
        received_at=datetime.now(UTC),
    )
    return {
        "tenant": tenant,
        "source": "/crm",
        "event_id": event_id,
        "type": event.type,
        "subject": aggregate_id,
        "workflow_id": f"appointment:{tenant}:{aggregate_id}",
        "status": "received",
        "received_at": utcnow(),
        "payload": event.model_dump(mode="json"),
    } | ({"attempts": attempts} if attempts else {})


async def store_rows(store: Store, rows: list[dict[str, Any]]) -> None:
    async with store.engine.begin() as connection:
        for start in range(0, len(rows), 1000):
            await connection.execute(insert(InboundEventRow), rows[start : start + 1000])


def poisoned(tenant: str, count: int, attempts: int = 0) -> list[dict[str, Any]]:
    """Events Temporal refuses every time: a workflow id over its 1,000 characters (INVALID_ARGUMENT)."""
    run = uuid.uuid4().hex[:6]
    return [
        outbox_row(tenant, f"poison-{run}-{n}", f"{n}-{run}-" + "x" * 1100, attempts) for n in range(count)
    ]


def metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def running_within(env: WorkflowEnvironment, workflow_id: str, seconds: float) -> float:
    began = time.monotonic()
    await eventually(lambda: is_running(env.client, workflow_id), within=seconds)
    return time.monotonic() - began


@pytest.mark.lasts(10)
async def test_10000_poisoned_events_of_one_tenant_do_not_hold_up_another_tenants_events(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    await sqlite_store.ensure_tenant("flood", "Flooding clinic", "flood-key")
    await sqlite_store.ensure_tenant("calm", "Calm clinic", "calm-key")
    calm = f"calm-{uuid.uuid4().hex[:8]}"
    # 10,000 refused events first in the outbox, then one of the calm tenant's left by a dead process.
    await store_rows(sqlite_store, poisoned("flood", 10_000))
    await store_rows(sqlite_store, [outbox_row("calm", "left-1", f"{calm}-left")])
    refusals_before = metric("nudgeflow_relay_refusals_total")

    # relay_inline=0: the calm tenant's new event too goes through the relay's queue.
    settings = Settings(task_queue=task_queue, relay_inline=0)
    async with api(settings, sqlite_store, dev_env) as client:
        swept = await running_within(dev_env, f"appointment:calm:{calm}-left", 10)

        async def flooding() -> bool:
            return metric("nudgeflow_relay_refusals_total") > refusals_before + 500

        await eventually(flooding)  # the relay is busy refusing the flood
        began = time.monotonic()
        body = cloud_event("appointment.confirmed", appointment(f"{calm}-new", STARTS_AT), "new-1")
        calm_key = {"Authorization": "Bearer calm-key", "Content-Type": "application/cloudevents+json"}
        answer = await client.post("/v1/events", headers=calm_key, content=body.replace('"demo"', '"calm"'))
        assert answer.status_code == 202, answer.text
        await running_within(dev_env, f"appointment:calm:{calm}-new", 5)
        posted = time.monotonic() - began
        refused = metric("nudgeflow_relay_refusals_total") - refusals_before
    print(f"\nunder 10,000 poisoned: stored {swept:.2f} s, posted {posted:.2f} s, {refused:.0f} refusals")
    assert swept < 5 and posted < 3
    assert await signalled_ids(dev_env.client, f"appointment:calm:{calm}-new") == ["new-1"]


@pytest.mark.lasts(8)
async def test_a_refused_event_is_dead_lettered_and_its_workflows_next_event_goes_on(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    aggregate = f"dead-{uuid.uuid4().hex[:8]}"
    # First an event over Temporal's 2 MB payload limit, then a fine one of the same appointment.
    await store_rows(
        sqlite_store,
        [
            outbox_row("demo", "big-1", aggregate, notes="x" * 2_500_000),
            outbox_row("demo", "fine-2", aggregate),
        ],
    )
    dead_before = metric("nudgeflow_relay_dead_letters_total")
    settings = Settings(task_queue=task_queue, relay_max_refusals=3)
    async with api(settings, sqlite_store, dev_env) as client:
        workflow_id = f"appointment:demo:{aggregate}"
        await running_within(dev_env, workflow_id, 20)
        await eventually(lambda: outbox_is_empty(sqlite_store))
        dead = await client.get("/v1/events/dead", headers={"Authorization": "Bearer demo-key"})
        metrics = (await client.get("/metrics")).text
        unauthenticated = await client.get("/v1/events/dead")
        # Retried as it is, it is refused again: back in the outbox, then dead again after 3 more.
        key = {"Authorization": "Bearer demo-key"}
        retried = await client.post("/v1/events/dead/retry", headers=key, json={"ids": ["big-1", "fine-2"]})
        assert retried.json() == {"retried": ["big-1"]}
        assert (await client.get("/v1/events/dead", headers=key)).json() == {"dead": []}
        await eventually(lambda: outbox_is_empty(sqlite_store))
        assert [d.attempts for d in await sqlite_store.dead_events("demo")] == [3]

        async def dead_twice() -> bool:
            # The relay counts a dead letter just after it records it: wait for the count too.
            return metric("nudgeflow_relay_dead_letters_total") == dead_before + 2

        await eventually(dead_twice)
    assert await signalled_ids(dev_env.client, workflow_id) == ["fine-2"]
    assert dead.status_code == 200, dead.text
    [letter] = dead.json()["dead"]
    assert letter["id"] == "big-1" and letter["type"] == "appointment.confirmed"
    assert letter["attempts"] == 3 and "Blob data size exceeds limit" in letter["reason"]
    assert metric("nudgeflow_relay_dead_letters_total") == dead_before + 2  # dead twice
    assert "nudgeflow_relay_dead_letters_total" in metrics
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["content-type"] == "application/problem+json"


async def test_after_a_restart_fresh_events_go_before_the_ones_refused_last_time(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "TENANT_BACKLOG", 100)
    fresh = f"fresh-{uuid.uuid4().hex[:8]}"
    # The last process was refused 4 times on each of 1,000 events; then one fresh event came.
    await store_rows(sqlite_store, poisoned("demo", 1000, attempts=4))
    await store_rows(sqlite_store, [outbox_row("demo", "fresh-1", fresh)])
    # The relay takes 100 of the tenant's events per sweep, a sweep every 5 s: the fresh event is
    # in the first 100 it takes, or it waits for a later sweep.
    relay = Relay(dev_env.client, task_queue, sqlite_store, inline=0, concurrency=1, sweep_every=5)
    sweeping = asyncio.create_task(relay.run())
    try:
        waited = await running_within(dev_env, f"appointment:demo:{fresh}", 10)
    finally:
        sweeping.cancel()
        await asyncio.gather(sweeping, return_exceptions=True)
    # A later sweep starts 5 s after the first ends: anything under that is the first sweep, however
    # slow the machine (the bound was 2.5 s, a margin a loaded CI machine could eat).
    assert waited < 5


async def test_two_relays_sweeping_one_outbox_deliver_each_event_once(
    dev_env: WorkflowEnvironment, store: Store, task_queue: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:6]
    aggregates = [f"pair-{run}-{n}" for n in range(60)]
    rows = [outbox_row("demo", f"{a}-e{i}", a) for a in aggregates for i in (1, 2)]
    await store_rows(store, rows)
    # Two API processes: each its own Store (connections, group commit) on the same database.
    other = Store(str(store.engine.url.render_as_string(hide_password=False)))
    relays = [
        Relay(dev_env.client, task_queue, on, inline=0, concurrency=2, sweep_every=0.05)
        for on in (store, other)
    ]
    sweeping = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        await eventually(lambda: outbox_is_empty(store), within=60)
    finally:
        for task in sweeping:
            task.cancel()
        await asyncio.gather(*sweeping, return_exceptions=True)
        await other.close()
    for aggregate in aggregates:
        assert await signalled_ids(dev_env.client, f"appointment:demo:{aggregate}") == [
            f"{aggregate}-e1",
            f"{aggregate}-e2",
        ]


async def test_temporal_away_is_waited_out_not_counted_as_refusals(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    gate = Gate(dev_env.client.service_client.config.target_host)
    await gate.open()
    temporal = await Client.connect(f"127.0.0.1:{gate.listen_port}", data_converter=pydantic_data_converter)
    await gate.shut()
    aggregate = f"away-{uuid.uuid4().hex[:8]}"
    await store_rows(sqlite_store, [outbox_row("demo", "away-1", aggregate)])
    # One refusal would kill it; Temporal being away fails every try for a while.
    relay = Relay(
        temporal, task_queue, sqlite_store, inline=0, concurrency=1, sweep_every=0.2, max_refusals=1
    )
    sweeping = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(2.5)  # tries at 0, 0.5, 1.5 s
        await gate.open()
        await running_within(dev_env, f"appointment:demo:{aggregate}", 30)
    finally:
        sweeping.cancel()
        await asyncio.gather(sweeping, return_exceptions=True)
        await gate.shut()
    assert await sqlite_store.dead_events("demo") == []
    assert await signalled_ids(dev_env.client, f"appointment:demo:{aggregate}") == ["away-1"]


async def test_events_held_by_a_relay_that_stopped_renewing_go_to_another_when_its_lease_ends(
    dev_env: WorkflowEnvironment, store: Store, task_queue: str
) -> None:
    run = uuid.uuid4().hex[:6]
    aggregates = [f"hung-{run}-{n}" for n in range(3)]
    await store_rows(store, [outbox_row("demo", f"{a}-e1", a) for a in aggregates])
    lease = timedelta(seconds=3)
    # A takes them and hangs: Temporal unreachable from it, and no more sweeps (no renewals).
    unreachable = await Client.connect("127.0.0.1:9", data_converter=pydantic_data_converter, lazy=True)
    hung = Relay(unreachable, task_queue, store, inline=0, concurrency=1, lease=lease)
    await hung.sweep()
    assert hung.backlog == 3
    other = Relay(dev_env.client, task_queue, store, inline=0, concurrency=2, sweep_every=0.2, lease=lease)
    sweeping = asyncio.create_task(other.run())
    try:
        await asyncio.sleep(1.5)
        assert not any([await is_running(dev_env.client, f"appointment:demo:{a}") for a in aggregates])
        await eventually(lambda: outbox_is_empty(store), within=20)
    finally:
        sweeping.cancel()
        await asyncio.gather(sweeping, hung.stop(), return_exceptions=True)
    for aggregate in aggregates:
        assert await signalled_ids(dev_env.client, f"appointment:demo:{aggregate}") == [f"{aggregate}-e1"]
