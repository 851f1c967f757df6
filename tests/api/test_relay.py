"""The relay (api/relay.py): an accepted event reaches its workflow through a burst, an outage, a crash."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api import relay as relay_module
from api.app import create_app
from api.relay import Accepted, Relay
from config import Settings
from domain.events import Appointment, DomainEvent
from store import Store
from tests.factories import appointment
from workflows.inputs import LifecycleInput
from workflows.routes import route

# SQL that differs by backend: each test runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

STRUCTURED = {"Authorization": "Bearer demo-key", "Content-Type": "application/cloudevents+json"}


def cloud_event(type: str, data: Mapping[str, object], event_id: str) -> str:
    envelope = {"specversion": "1.0", "id": event_id, "source": "/crm", "type": type, "tenant": "demo"}
    return json.dumps({**envelope, "data": data})


@contextlib.asynccontextmanager
async def api(settings: Settings, store: Store, temporal: Client) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, store=store, temporal=temporal)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nudgeflow") as client:
            yield client


class Gate:
    """A TCP proxy to the Temporal server that can be shut: Temporal going away and coming back."""

    def __init__(self, target: str) -> None:
        self.host, port = target.rsplit(":", 1)
        self.port = int(port)
        self.server: asyncio.Server | None = None
        self.listen_port = 0
        self.streams: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", self.listen_port)
        self.listen_port = self.server.sockets[0].getsockname()[1]

    async def shut(self) -> None:
        """Stop listening and cut every connection: calls fail as if the server were down."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in self.streams:
            writer.close()
        self.streams.clear()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
        self.streams.update((writer, upstream_writer))

        async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(copy(reader, upstream_writer), copy(upstream_reader, writer))


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "did not happen in time"
        await asyncio.sleep(0.2)


async def is_running(client: Client, workflow_id: str) -> bool:
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return False
    return description.status == WorkflowExecutionStatus.RUNNING


async def outbox_is_empty(store: Store) -> bool:
    return not await store.pending_events(datetime.now(UTC) + timedelta(seconds=1))


async def signalled_ids(client: Client, workflow_id: str) -> list[str]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    signals = [
        e.workflow_execution_signaled_event_attributes
        for e in history.events
        if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    # Payloads are encrypted (workflows/codec.py): the client's converter reads them.
    return [(await client.data_converter.decode([*signal.input.payloads]))[0]["id"] for signal in signals]


def confirmed(event_id: str, data: dict[str, Any]) -> Accepted:
    """An appointment.confirmed as the API hands it to the relay."""
    target = route("demo", "appointment.confirmed", Appointment.model_validate(data))
    assert target is not None
    event = DomainEvent(
        id=event_id,
        source="/crm",
        type="appointment.confirmed",
        tenant="demo",
        data=data,
        received_at=datetime.now(UTC),
    )
    return Accepted("demo", target, event)


@pytest.fixture
def appointment_id() -> str:
    return f"relay-{uuid.uuid4().hex[:8]}"


async def test_events_accepted_while_temporal_is_away_reach_their_workflow_when_it_is_back(
    dev_env: WorkflowEnvironment, store: Store, task_queue: str, appointment_id: str
) -> None:
    gate = Gate(dev_env.client.service_client.config.target_host)
    await gate.open()
    temporal = await Client.connect(
        f"127.0.0.1:{gate.listen_port}", namespace="default", data_converter=pydantic_data_converter
    )
    await gate.shut()
    starts_at = datetime.now(UTC) + timedelta(days=2)
    async with api(Settings(task_queue=task_queue), store, temporal) as client:
        began = time.monotonic()
        response = await client.post(
            "/v1/events",
            headers=STRUCTURED,
            content=cloud_event("appointment.confirmed", appointment(appointment_id, starts_at), "out-1"),
        )
        assert response.status_code == 202, response.text
        assert response.json()["accepted"] == ["out-1"]
        assert time.monotonic() - began < 10, "the backend waited for Temporal"
        assert not await outbox_is_empty(store)

        await gate.open()  # Temporal is back on the same address
        workflow_id = f"appointment:demo:{appointment_id}"
        await eventually(lambda: is_running(dev_env.client, workflow_id), within=60)
        await eventually(lambda: outbox_is_empty(store))
    assert await signalled_ids(dev_env.client, workflow_id) == ["out-1"]
    await gate.shut()


async def test_under_a_burst_requests_answer_first_and_each_workflow_gets_its_events_in_order(
    dev_env: WorkflowEnvironment, store: Store, task_queue: str, appointment_id: str
) -> None:
    starts_at = datetime.now(UTC) + timedelta(days=2)
    later = (starts_at + timedelta(hours=1)).isoformat()
    moved = {"appointment_id": appointment_id, "starts_at": later, "duration_minutes": 30}
    cancelled = {"appointment_id": appointment_id, "cancelled_by": "clinic"}
    events = [
        cloud_event("appointment.confirmed", appointment(appointment_id, starts_at), "b-1"),
        cloud_event("appointment.rescheduled", moved, "b-2"),
        cloud_event("appointment.cancelled", cancelled, "b-3"),
    ]
    # relay_inline=0: every request only stores and queues, as under a burst.
    async with api(Settings(task_queue=task_queue, relay_inline=0), store, dev_env.client) as client:
        answers = [await client.post("/v1/events", headers=STRUCTURED, content=body) for body in events]
        assert [a.json()["accepted"] for a in answers] == [["b-1"], ["b-2"], ["b-3"]]
        await eventually(lambda: outbox_is_empty(store))
    workflow_id = f"appointment:demo:{appointment_id}"
    assert await signalled_ids(dev_env.client, workflow_id) == ["b-1", "b-2", "b-3"]


async def test_an_event_stored_by_a_process_that_died_is_delivered_by_the_next_one(
    dev_env: WorkflowEnvironment, store: Store, task_queue: str, appointment_id: str
) -> None:
    starts_at = datetime.now(UTC) + timedelta(days=2)
    unreachable = await Client.connect("127.0.0.1:9", data_converter=pydantic_data_converter, lazy=True)
    settings = Settings(task_queue=task_queue)
    async with api(settings, store, unreachable) as client:
        body = cloud_event("appointment.confirmed", appointment(appointment_id, starts_at), "crash-1")
        assert (await client.post("/v1/events", headers=STRUCTURED, content=body)).status_code == 202
    # That process is gone with the event still undelivered; the next one finds it in the store.
    assert not await outbox_is_empty(store)
    async with api(settings, store, dev_env.client) as client:
        await eventually(lambda: outbox_is_empty(store))
        again = await client.post("/v1/events", headers=STRUCTURED, content=body)
        assert again.json()["duplicates"] == ["crash-1"]
    workflow_id = f"appointment:demo:{appointment_id}"
    assert await is_running(dev_env.client, workflow_id)
    assert await signalled_ids(dev_env.client, workflow_id) == ["crash-1"]


async def started_with(client: Client, workflow_id: str) -> LifecycleInput:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [lifecycle] = await client.data_converter.decode([*started.input.payloads], [LifecycleInput])
    return lifecycle  # type: ignore[no-any-return]


async def test_a_lifecycle_starts_with_its_tenants_settings_as_saved_last(
    dev_env: WorkflowEnvironment, store: Store, task_queue: str, appointment_id: str
) -> None:
    starts_at = datetime.now(UTC) + timedelta(days=2)
    async with api(Settings(task_queue=task_queue), store, dev_env.client) as client:
        first, second = f"{appointment_id}-a", f"{appointment_id}-b"
        body = cloud_event("appointment.confirmed", appointment(first, starts_at), "s-1")
        assert (await client.post("/v1/events", headers=STRUCTURED, content=body)).status_code == 202
        changed = await client.put("/v1/settings", headers=STRUCTURED, json={"reminder_offsets": ["PT3H"]})
        assert changed.status_code == 200, changed.text
        body = cloud_event("appointment.confirmed", appointment(second, starts_at), "s-2")
        assert (await client.post("/v1/events", headers=STRUCTURED, content=body)).status_code == 202

    before = await started_with(dev_env.client, f"appointment:demo:{first}")
    after = await started_with(dev_env.client, f"appointment:demo:{second}")
    assert before.settings is not None and before.settings.reminder_offsets != [timedelta(hours=3)]
    assert after.settings is not None and after.settings.reminder_offsets == [timedelta(hours=3)]


async def test_past_its_memory_bound_the_relay_leaves_events_in_the_store_and_sweeps_them_later(
    dev_env: WorkflowEnvironment,
    store: Store,
    task_queue: str,
    appointment_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(relay_module, "MAX_BACKLOG", 2)
    monkeypatch.setattr(relay_module, "TENANT_BACKLOG", 2)
    gate = Gate(dev_env.client.service_client.config.target_host)
    await gate.open()
    temporal = await Client.connect(f"127.0.0.1:{gate.listen_port}", data_converter=pydantic_data_converter)
    await gate.shut()
    relay = Relay(temporal, task_queue, store, inline=0, concurrency=4, sweep_every=0.2)
    starts_at = datetime.now(UTC) + timedelta(days=2)
    accepted = [confirmed(f"m-{n}", appointment(f"{appointment_id}-{n}", starts_at)) for n in range(5)]
    await store.claim_events("demo", [one.outbox_row() for one in accepted])

    await relay.deliver(accepted)
    assert relay.backlog == 2  # the other three wait in the store only

    await gate.open()
    sweeping = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: outbox_is_empty(store), within=60)
    finally:
        sweeping.cancel()
        await asyncio.gather(sweeping, return_exceptions=True)
        await gate.shut()
    for n in range(5):
        assert await is_running(dev_env.client, f"appointment:demo:{appointment_id}-{n}")


async def test_a_workflow_whose_events_keep_failing_does_not_hold_up_the_others(
    dev_env: WorkflowEnvironment, store: Store, task_queue: str, appointment_id: str
) -> None:
    # One slot, and first in line an event Temporal refuses every time (over its 2 MB payload limit).
    relay = Relay(dev_env.client, task_queue, store, inline=0, concurrency=1)
    starts_at = datetime.now(UTC) + timedelta(days=2)
    refused = appointment(f"{appointment_id}-big", starts_at) | {"notes": "x" * 2_500_000}
    fine = appointment(f"{appointment_id}-ok", starts_at)
    accepted = [confirmed("p-0", refused), confirmed("p-1", fine)]
    await store.claim_events("demo", [one.outbox_row() for one in accepted])

    await relay.deliver(accepted)

    await eventually(lambda: is_running(dev_env.client, f"appointment:demo:{appointment_id}-ok"), within=20)
    assert not await is_running(dev_env.client, f"appointment:demo:{appointment_id}-big")

    async def only_the_refused_one_waits() -> bool:
        return relay.backlog == 1  # the delivered event leaves the backlog just after its workflow runs

    await eventually(only_the_refused_one_waits, within=10)
    await relay.stop()
