"""What `POST /v1/events` and `PUT /v1/settings` refuse: only what the engine could never process.

Each case once, on SQLite: the refusal happens before the store (PostgreSQL would answer a NUL or a
lone surrogate with a 500), so the store is not what these test.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import Settings
from store import Store
from tests.factories import appointment, patient
from tests.store.backends import make_store

KEY = {"Authorization": "Bearer demo-key"}
STRUCTURED = {**KEY, "Content-Type": "application/cloudevents+json"}
PROBLEM = "application/problem+json"


@pytest_asyncio.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await make_store("sqlite", tmp_path)
    await store.ensure_tenant("demo", "Demo clinic", "demo-key")
    yield store
    await store.close()


@pytest_asyncio.fixture
async def settings(task_queue: str) -> Settings:
    return Settings(task_queue=task_queue)


@pytest_asyncio.fixture
async def api(
    dev_env: WorkflowEnvironment, sqlite_store: Store, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, store=sqlite_store, temporal=dev_env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nudgeflow") as client:
            yield client


def event(data: dict[str, Any], event_id: str = "e-1", **envelope: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/crm",
        "type": "appointment.confirmed",
        "tenant": "demo",
        "data": data,
        **envelope,
    }


def visit(**overrides: Any) -> dict[str, Any]:
    return appointment(f"lim-{uuid.uuid4().hex[:8]}", datetime.now(UTC) + timedelta(days=2)) | overrides


async def stored_events(store: Store) -> int:
    async with store.engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM inbound_events"))).scalar_one())


def refused_fields(response: httpx.Response, status: int = 422) -> list[str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    return [error["field"] for error in response.json().get("errors", [])]


async def test_a_body_over_the_limit_is_413_and_nothing_is_stored(
    api: httpx.AsyncClient, sqlite_store: Store
) -> None:
    huge = json.dumps(event(visit(notes="x" * (1024 * 1024))))
    response = await api.post("/v1/events", headers=STRUCTURED, content=huge)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert await stored_events(sqlite_store) == 0


async def test_a_streamed_body_is_counted_whatever_content_length_says(
    api: httpx.AsyncClient, sqlite_store: Store
) -> None:
    async def ten_megabytes() -> AsyncIterator[bytes]:
        yield b'{"specversion": "1.0", "id": "big", "source": "/crm", "notes": "'
        for _ in range(160):
            yield b"x" * 65536
        yield b'"}'

    # No Content-Length at all (chunked): only counting the stream finds out.
    response = await api.post("/v1/events", headers=STRUCTURED, content=ten_megabytes())
    assert response.status_code == 413
    assert await stored_events(sqlite_store) == 0


@pytest.mark.parametrize("settings", [Settings(max_body_bytes=4096)])
async def test_the_body_limit_is_a_setting(api: httpx.AsyncClient) -> None:
    body = json.dumps(event(visit(notes="x" * 5000)))
    assert (await api.post("/v1/events", headers=STRUCTURED, content=body)).status_code == 413
    small = json.dumps(event(visit()))
    assert (await api.post("/v1/events", headers=STRUCTURED, content=small)).status_code == 202


async def test_one_event_too_big_for_a_lifecycle_is_413_naming_it(
    api: httpx.AsyncClient, sqlite_store: Store
) -> None:
    # 360 KB of notes (strings of 9,000 characters) in a body under 1 MiB.
    batch = [event(visit(), "small"), event(visit(), "fine"), event(visit(notes=["x" * 9000] * 40), "big")]
    headers = {**KEY, "Content-Type": "application/cloudevents-batch+json"}
    response = await api.post("/v1/events", headers=headers, json=batch)
    assert refused_fields(response, 413) == ["[2]"]
    assert await stored_events(sqlite_store) == 0


async def test_json_nested_too_deep_is_refused_naming_the_field(api: httpx.AsyncClient) -> None:
    nested: Any = "bottom"
    for _ in range(40):
        nested = {"x": nested}
    fields = refused_fields(await api.post("/v1/events", headers=STRUCTURED, json=event(visit(extra=nested))))
    assert fields and fields[0].startswith("data.extra.x.x")

    ten_thousand_deep = '{"specversion": "1.0", "data": ' + "[" * 10_000 + "]" * 10_000 + "}"
    response = await api.post("/v1/events", headers=STRUCTURED, content=ten_thousand_deep)
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    ("envelope", "data", "field"),
    [
        ({"id": "i" * 1100}, {}, "id"),
        ({"subject": "s" * 1100}, {}, "subject"),
        ({"source": "/" + "s" * 1100}, {}, "source"),
        ({"type": "appointment." + "t" * 1100}, {}, "type"),
        ({}, {"appointment_id": "a" * 1100}, "data.appointment_id"),
        ({}, {"patient": patient(id="p" * 1100)}, "data.patient.id"),
        ({}, {"patient": patient(name="n" * 600)}, "data.patient.name"),
        ({}, {"doctor": {"id": "d-1", "name": "n" * 600}}, "data.doctor.name"),
        ({}, {"notes": "n" * 20_000}, "data.notes"),
        ({}, {"patient": patient(timezone="Europe/" + "x" * 10_000)}, "data.patient.timezone"),
        ({}, {"patient": patient(timezone="Moon/Base")}, "data.patient.timezone"),
        ({}, {"patient": patient(locale="root")}, "data.patient.locale"),
        ({}, {"patient": patient(locale="en_US.UTF-8@euro")}, "data.patient.locale"),
        ({}, {"starts_at": "9999-01-01T10:00:00+00:00"}, "data.starts_at"),
        ({}, {"starts_at": "1900-01-01T10:00:00+00:00"}, "data.starts_at"),
        ({"time": "9999-01-01T10:00:00Z"}, {}, "time"),
    ],
)
async def test_values_the_engine_cannot_use_are_refused_naming_the_field(
    api: httpx.AsyncClient, sqlite_store: Store, envelope: dict[str, Any], data: dict[str, Any], field: str
) -> None:
    body = event(visit(**data), **envelope)
    fields = refused_fields(await api.post("/v1/events", headers=STRUCTURED, json=body))
    assert field in fields
    assert await stored_events(sqlite_store) == 0


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('"name": "An\\u0000na"', "data.patient.name"),
        ('"name": "An\\ud800na"', "data.patient.name"),
        ('"note\\ud800": 1', "data.patient.note\\ud800"),
    ],
)
async def test_nul_and_lone_surrogates_are_refused_naming_the_field(
    api: httpx.AsyncClient, sqlite_store: Store, raw: str, field: str
) -> None:
    # Written as JSON escapes: that is how they arrive (raw bytes would not be UTF-8 at all).
    body = json.dumps(event(visit(patient=patient(name="PLACEHOLDER"))))
    body = body.replace('"name": "PLACEHOLDER"', raw)
    assert field in refused_fields(await api.post("/v1/events", headers=STRUCTURED, content=body))
    assert await stored_events(sqlite_store) == 0


@pytest.mark.parametrize("number", ["1e400", "NaN", "Infinity", "1" * 5000])
async def test_numbers_that_are_not_numbers_are_400_not_500(api: httpx.AsyncClient, number: str) -> None:
    # In a field we do not know: nothing else would stop it on its way to the store and Temporal.
    body = json.dumps(event(visit(notes="PLACEHOLDER")))
    body = body.replace('"PLACEHOLDER"', number)
    response = await api.post("/v1/events", headers=STRUCTURED, content=body)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == PROBLEM


async def test_binary_attributes_are_percent_decoded_so_one_event_is_one_event(
    api: httpx.AsyncClient,
) -> None:
    data = visit()
    event_id, source = "café 1/ü", "/crm système"
    structured = event(data, event_id=event_id, source=source)
    first = await api.post("/v1/events", headers=STRUCTURED, json=structured)
    assert first.json()["accepted"] == [event_id], first.text

    headers = {
        **KEY,
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": quote(event_id),
        "ce-source": quote(source),
        "ce-type": "appointment.confirmed",
        "ce-tenant": "demo",
    }
    again = await api.post("/v1/events", headers=headers, json=data)
    assert again.status_code == 202, again.text
    assert again.json()["duplicates"] == [event_id]

    bad = await api.post("/v1/events", headers={**headers, "ce-id": "%C3%28"}, json=data)
    assert "ce-id" in refused_fields(bad, 400)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"feedback_delay": "P999999D"}, "body.feedback_delay"),
        ({"reminder_offsets": ["P999999D"]}, "body.reminder_offsets.0"),
        ({"payment_nudge_offsets": ["P0D", "P9999D"]}, "body.payment_nudge_offsets.1"),
        ({"timezone": "x" * 10_000}, "body.timezone"),
        ({"default_locale": "root"}, "body.default_locale"),
        ({"channel_costs": {"sms": 1e308}}, "body.channel_costs.sms"),
    ],
)
async def test_settings_the_planner_cannot_use_are_refused_naming_the_field(
    api: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    response = await api.put("/v1/settings", headers=KEY, json=change)
    assert field in refused_fields(response)
    assert (await api.get("/v1/settings", headers=KEY)).json()["feedback_delay"] == "PT2H"
