"""`DELETE /v1/contacts/{id}` over HTTP: erasure for the contact's own tenant, a 404 for anyone else."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest_asyncio
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import Settings
from domain.deliveries import DeliveryDraft, DeliveryOutcome, DeliveryStatus
from store import Store
from store.tables import InboundEventRow
from tests.factories import appointment, patient

KEY = {"Authorization": "Bearer demo-key"}
OTHER_KEY = {"Authorization": "Bearer other-key"}


@pytest_asyncio.fixture
async def api(
    dev_env: WorkflowEnvironment, store: Store, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    await store.ensure_tenant("other", "Other clinic", "other-key")
    app = create_app(Settings(task_queue=task_queue), store=store, temporal=dev_env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nudgeflow") as client:
            yield client


async def confirm(api: httpx.AsyncClient, contact_id: str) -> None:
    starts_at = datetime.now(UTC) + timedelta(days=2)
    data = appointment(f"a-{uuid.uuid4().hex[:8]}", starts_at, patient=patient(id=contact_id))
    event: dict[str, object] = {"specversion": "1.0", "id": f"e-{uuid.uuid4().hex[:8]}", "source": "/crm"}
    event |= {"type": "appointment.confirmed", "tenant": "demo", "data": data}
    headers = {**KEY, "Content-Type": "application/cloudevents+json"}
    response = await api.post("/v1/events", headers=headers, content=json.dumps(event))
    assert response.status_code == 202, response.text


async def sent_to(store: Store, contact_id: str) -> None:
    at = datetime.now(UTC)
    draft = DeliveryDraft(
        tenant="demo",
        idempotency_key=f"erasure/{uuid.uuid4().hex}",
        subject="a-1",
        workflow_id="appointment:demo:a-1",
        step="confirmation",
        contact_id=contact_id,
        template="appointment_confirmed",
        scheduled_for=at,
    )
    row, _ = await store.begin_delivery(draft)
    body = "Анна Петрова, ждём вас 14 марта в 12:00"
    await store.finish_delivery(
        row.id, DeliveryOutcome(status=DeliveryStatus.SENT, channel="sms", provider="outbox", body=body)
    )


async def payloads(store: Store) -> list[object]:
    async with store.engine.connect() as connection:
        return list((await connection.execute(select(InboundEventRow.payload))).scalars())


async def test_delete_erases_the_contact_and_redacts_what_was_sent_to_it(
    api: httpx.AsyncClient, store: Store
) -> None:
    await confirm(api, "p-erase")
    await sent_to(store, "p-erase")

    response = await api.delete("/v1/contacts/p-erase", headers=KEY)

    assert response.status_code == 204 and response.content == b""
    assert (await api.get("/v1/contacts/p-erase", headers=KEY)).status_code == 404
    log = (await api.get("/v1/deliveries", params={"contact_id": "p-erase"}, headers=KEY)).json()
    assert [d["body"] for d in log["deliveries"]] == ["[erased]"]
    assert await payloads(store) == [None]
    again = await api.delete("/v1/contacts/p-erase", headers=KEY)
    assert again.status_code == 404 and again.headers["content-type"] == "application/problem+json"


async def test_another_tenant_can_neither_erase_nor_probe_a_contact(
    api: httpx.AsyncClient, store: Store
) -> None:
    await confirm(api, "p-kept")
    await sent_to(store, "p-kept")

    theirs = await api.delete("/v1/contacts/p-kept", headers=OTHER_KEY)
    unknown = await api.delete("/v1/contacts/p-nobody", headers=OTHER_KEY)
    anonymous = await api.delete("/v1/contacts/p-kept")

    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["detail"] == "no contact 'p-kept'" and theirs.json().keys() == unknown.json().keys()
    assert anonymous.status_code == 401
    assert (await api.get("/v1/contacts/p-kept", headers=KEY)).json()["name"] == "Анна Петрова"
    log = (await api.get("/v1/deliveries", params={"contact_id": "p-kept"}, headers=KEY)).json()
    assert [d["body"] for d in log["deliveries"]] == ["Анна Петрова, ждём вас 14 марта в 12:00"]
    assert all(payload is not None for payload in await payloads(store))
