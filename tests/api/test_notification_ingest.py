"""`notification.requested` over HTTP: an unknown template is refused at once, naming the field."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import Settings
from store import Store

KEY = {"Authorization": "Bearer demo-key"}
STRUCTURED = {**KEY, "Content-Type": "application/cloudevents+json"}
BATCH = {**KEY, "Content-Type": "application/cloudevents-batch+json"}


@pytest_asyncio.fixture
async def api(
    dev_env: WorkflowEnvironment, store: Store, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(task_queue=task_queue), store=store, temporal=dev_env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nudgeflow") as client:
            yield client


def requested(template: str, event_id: str | None = None) -> dict[str, Any]:
    nid = f"n-{uuid.uuid4().hex[:8]}"
    return {
        "specversion": "1.0",
        "id": event_id or nid,
        "source": "/shop",
        "type": "notification.requested",
        "tenant": "demo",
        "data": {
            "notification_id": nid,
            "contact": {"id": "b2b-1", "name": "Ирина", "locale": "ru", "timezone": "Europe/Moscow"},
            "template": template,
            "data": {"order_id": "10482", "status": "shipped"},
            "category": "transactional",
        },
    }


async def test_an_unknown_template_is_422_naming_data_template(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/events", headers=STRUCTURED, content=json.dumps(requested("order_stat")))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["data.template"]


async def test_in_a_batch_the_bad_one_is_named_and_nothing_is_accepted(api: httpx.AsyncClient) -> None:
    body = [requested("order_status"), requested("no_such_template")]
    response = await api.post("/v1/events", headers=BATCH, content=json.dumps(body))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["[1].data.template"]


async def test_a_shipped_template_is_accepted(api: httpx.AsyncClient) -> None:
    event = requested("manager_note")
    response = await api.post("/v1/events", headers=STRUCTURED, content=json.dumps(event))
    assert response.status_code == 202
    assert response.json()["accepted"] == [event["id"]]
