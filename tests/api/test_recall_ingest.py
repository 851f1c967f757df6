"""`recall.set` / `recall.dismissed` over HTTP: accepted, or refused naming the field."""

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

STRUCTURED = {"Authorization": "Bearer demo-key", "Content-Type": "application/cloudevents+json"}


@pytest_asyncio.fixture
async def api(
    dev_env: WorkflowEnvironment, store: Store, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(task_queue=task_queue), store=store, temporal=dev_env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nudgeflow") as client:
            yield client


def envelope(type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": uuid.uuid4().hex,
        "source": "/pms",
        "type": type,
        "tenant": "demo",
        "data": data,
    }


def recall_set(**data: Any) -> dict[str, Any]:
    patient = {"id": f"p-{uuid.uuid4().hex[:6]}", "name": "Анна", "locale": "ru", "timezone": "Europe/Moscow"}
    return envelope(
        "recall.set",
        {"patient": patient, "recall_type": "hygiene", "due_at": "2030-03-14T10:00:00+03:00", **data},
    )


async def post(api: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await api.post("/v1/events", headers=STRUCTURED, content=json.dumps(body))


async def test_a_recall_due_date_and_its_dismissal_are_accepted(api: httpx.AsyncClient) -> None:
    event = recall_set()
    assert (await post(api, event)).status_code == 202
    patient_id = event["data"]["patient"]["id"]
    dismissed = envelope("recall.dismissed", {"patient_id": patient_id, "recall_type": "hygiene"})
    response = await post(api, dismissed)
    assert response.status_code == 202 and response.json()["accepted"] == [dismissed["id"]]


async def test_a_recall_without_a_usable_due_date_is_422_naming_it(api: httpx.AsyncClient) -> None:
    for due_at, field in (("next spring", "data.due_at"), ("2030-03-14T10:00:00", "data.due_at")):
        response = await post(api, recall_set(due_at=due_at))
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [error["field"] for error in response.json()["errors"]] == [field]
    response = await post(api, recall_set(recall_type=""))
    assert [error["field"] for error in response.json()["errors"]] == ["data.recall_type"]


async def test_what_an_appointment_tells_a_recall_is_not_accepted_from_a_backend(
    api: httpx.AsyncClient,
) -> None:
    response = await post(api, envelope("recall.visit", {"appointment_id": "a-1", "state": "completed"}))
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["type"]
