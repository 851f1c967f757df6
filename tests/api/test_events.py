"""`POST /v1/events` over HTTP: modes, authentication, validation, dedupe, nothing started on bad input."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import Settings
from store import Store
from tests.factories import appointment

KEY = {"Authorization": "Bearer demo-key"}
STRUCTURED = {**KEY, "Content-Type": "application/cloudevents+json"}


@pytest_asyncio.fixture
async def api(
    dev_env: WorkflowEnvironment, store: Store, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(task_queue=task_queue), store=store, temporal=dev_env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nudgeflow") as client:
            yield client


_suffix = ["-"]


@pytest.fixture(autouse=True)
def _fresh_ids() -> None:
    # The time-skipping server is shared by the whole session: ids must not repeat across tests.
    _suffix[0] = uuid.uuid4().hex[:8]


def aid(name: str) -> str:
    return f"{name}-{_suffix[0]}"


def cloud_event(type: str, data: dict[str, Any], event_id: str = "e-1", **extra: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/crm",
        "type": type,
        "subject": "x",
        "tenant": "demo",
        "data": data,
        **extra,
    }


def soon() -> datetime:
    return datetime.now(UTC) + timedelta(days=2)


async def workflow_status(env: WorkflowEnvironment, appointment_id: str) -> WorkflowExecutionStatus | None:
    try:
        description = await env.client.get_workflow_handle(f"appointment:demo:{appointment_id}").describe()
    except RPCError as exc:
        assert exc.status == RPCStatusCode.NOT_FOUND
        return None
    return description.status


async def stored_events(store: Store) -> int:
    async with store.engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM inbound_events"))).scalar_one())


async def test_structured_event_starts_the_appointment_workflow(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment, store: Store
) -> None:
    response = await api.post(
        "/v1/events",
        headers=STRUCTURED,
        content=json.dumps(cloud_event("appointment.confirmed", appointment(aid("h-1"), soon()))),
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": ["e-1"], "duplicates": [], "ignored": []}
    assert await workflow_status(dev_env, aid("h-1")) == WorkflowExecutionStatus.RUNNING
    contact = await store.get_contact("demo", "patient-1")
    assert contact is not None and contact.locale == "ru-RU"


async def test_binary_mode_with_string_sequence_is_accepted(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    headers = {
        **KEY,
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": "b-1",
        "ce-source": "/crm",
        "ce-type": "appointment.confirmed",
        "ce-tenant": "demo",
        "ce-sequence": "7",
    }
    response = await api.post(
        "/v1/events", headers=headers, content=json.dumps(appointment(aid("h-2"), soon()))
    )
    assert response.status_code == 202, response.text
    assert await workflow_status(dev_env, aid("h-2")) == WorkflowExecutionStatus.RUNNING


async def test_batch_mode_routes_each_event_to_its_workflow(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    batch = [
        cloud_event("appointment.confirmed", appointment(aid(f"h-3{i}"), soon()), event_id=f"b{i}")
        for i in range(3)
    ]
    response = await api.post(
        "/v1/events",
        content=json.dumps(batch),
        headers={**KEY, "Content-Type": "application/cloudevents-batch+json"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == ["b0", "b1", "b2"]
    for i in range(3):
        assert await workflow_status(dev_env, aid(f"h-3{i}")) == WorkflowExecutionStatus.RUNNING


async def test_a_duplicate_id_is_accepted_again_with_no_second_effect(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    body = json.dumps(cloud_event("appointment.confirmed", appointment(aid("h-4"), soon()), event_id="dup"))
    answers = [await api.post("/v1/events", headers=STRUCTURED, content=body) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert [a.json()["duplicates"] for a in answers] == [[], ["dup"], ["dup"]]
    history = await dev_env.client.get_workflow_handle(f"appointment:demo:{aid('h-4')}").fetch_history()
    signals = [e for e in history.events if e.HasField("workflow_execution_signaled_event_attributes")]
    starts = [e for e in history.events if e.HasField("workflow_execution_started_event_attributes")]
    assert len(starts) == 1 and len(signals) == 1


BAD_INPUT = [
    pytest.param(b"{not json", STRUCTURED, 400, None, id="malformed-json"),
    pytest.param(lambda d: d.pop("starts_at"), STRUCTURED, 422, "data.starts_at", id="missing-field"),
    pytest.param(
        lambda d: d.update(duration_minutes="thirty"),
        STRUCTURED,
        422,
        "data.duration_minutes",
        id="wrong-type",
    ),
    pytest.param(
        lambda d: d["location"].update(timezone="Mars/Olympus"),
        STRUCTURED,
        422,
        "data.location.timezone",
        id="bad-timezone",
    ),
    pytest.param(
        lambda d: d.update(starts_at="2020-01-01T10:00:00+03:00"),
        STRUCTURED,
        422,
        "data.starts_at",
        id="past-starts-at",
    ),
    pytest.param(
        lambda d: d.update(starts_at="2030-01-01T10:00:00"),
        STRUCTURED,
        422,
        "data.starts_at",
        id="starts-at-without-offset",
    ),
    pytest.param(
        lambda d: d["patient"].update(phone="8916"), STRUCTURED, 422, "data.patient.phone", id="bad-phone"
    ),
    pytest.param(None, {**STRUCTURED, "Authorization": "Bearer wrong"}, 401, None, id="wrong-api-key"),
    pytest.param(None, {"Content-Type": "application/cloudevents+json"}, 401, None, id="no-api-key"),
    pytest.param(None, {**KEY, "Content-Type": "text/plain"}, 415, None, id="wrong-media-type"),
]


@pytest.mark.parametrize(("change", "headers", "status", "field"), BAD_INPUT)
async def test_bad_input_gets_a_clear_4xx_and_starts_and_stores_nothing(
    api: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    store: Store,
    change: Any,
    headers: dict[str, str],
    status: int,
    field: str | None,
) -> None:
    data = appointment(aid("bad-1"), soon())
    if callable(change):
        change(data)
    body = change if isinstance(change, bytes) else json.dumps(cloud_event("appointment.confirmed", data))
    response = await api.post("/v1/events", headers=headers, content=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["title"]
    if field:
        assert field in [error["field"] for error in problem["errors"]], problem
    assert "Traceback" not in response.text and "SELECT" not in response.text
    assert await workflow_status(dev_env, aid("bad-1")) is None
    assert await stored_events(store) == 0
    assert await store.get_contact("demo", "patient-1") is None


async def test_unknown_event_type_is_422_naming_the_type(api: httpx.AsyncClient, store: Store) -> None:
    response = await api.post(
        "/v1/events",
        headers=STRUCTURED,
        content=json.dumps(cloud_event("appointment.teleported", {"appointment_id": "x"})),
    )
    assert response.status_code == 422
    assert response.json()["title"] == "Unknown event type"
    assert response.json()["errors"][0]["field"] == "type"
    assert await stored_events(store) == 0


async def test_one_bad_event_in_a_batch_rejects_the_whole_batch(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    good = cloud_event("appointment.confirmed", appointment(aid("h-5"), soon()), event_id="g")
    bad = cloud_event(
        "appointment.confirmed", {**appointment(aid("h-6"), soon()), "duration_minutes": -5}, event_id="b"
    )
    response = await api.post(
        "/v1/events",
        content=json.dumps([good, bad]),
        headers={**KEY, "Content-Type": "application/cloudevents-batch+json"},
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["[1].data.duration_minutes"]
    assert await workflow_status(dev_env, aid("h-5")) is None


async def test_event_for_another_tenant_is_refused(api: httpx.AsyncClient) -> None:
    event = cloud_event("appointment.confirmed", appointment(aid("h-7"), soon()), tenant="other-clinic")
    response = await api.post("/v1/events", headers=STRUCTURED, content=json.dumps(event))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "tenant"


async def test_non_numeric_sequence_is_refused(api: httpx.AsyncClient) -> None:
    event = cloud_event("appointment.confirmed", appointment(aid("h-8"), soon()), sequence="7a")
    response = await api.post("/v1/events", headers=STRUCTURED, content=json.dumps(event))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "sequence"


async def test_contact_updated_upserts_the_contact_and_starts_nothing(
    api: httpx.AsyncClient, store: Store
) -> None:
    contact = {
        "id": "p-77",
        "name": "Иван",
        "locale": "ru",
        "timezone": "Europe/Moscow",
        "email": "i@example.org",
    }
    event = cloud_event("contact.updated", {"contact": contact}, event_id=aid("c"))
    response = await api.post("/v1/events", headers=STRUCTURED, content=json.dumps(event))
    assert response.status_code == 202, response.text
    stored = await store.get_contact("demo", "p-77")
    assert stored is not None and stored.email == "i@example.org"
