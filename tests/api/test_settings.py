"""`GET/PUT /v1/settings` and `/v1/contacts`: validated, per tenant, problem+json naming the field."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import Settings
from store import Store

KEY = {"Authorization": "Bearer demo-key"}


@pytest_asyncio.fixture
async def api(
    dev_env: WorkflowEnvironment, store: Store, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(task_queue=task_queue), store=store, temporal=dev_env.client)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://nudgeflow"
        ) as client:
            yield client


async def test_defaults_are_the_documented_ones(api: httpx.AsyncClient) -> None:
    settings = (await api.get("/v1/settings", headers=KEY)).json()
    assert settings["reminder_offsets"] == ["P1D", "PT2H"]
    assert settings["quiet_hours"] == {"start": "21:00:00", "end": "09:00:00"}
    assert settings["payment_nudge_offsets"] == ["PT0S", "P3D", "P7D"]
    assert settings["chat_push_delay"] == "PT5S" and settings["chat_sms_delay"] == "PT10M"


async def test_a_change_is_stored_and_read_back(api: httpx.AsyncClient) -> None:
    response = await api.put(
        "/v1/settings", headers=KEY, json={"reminder_offsets": ["PT3H"], "chat_push_delay": "PT10S"}
    )
    assert response.status_code == 200, response.text
    settings = (await api.get("/v1/settings", headers=KEY)).json()
    assert settings["reminder_offsets"] == ["PT3H"] and settings["chat_push_delay"] == "PT10S"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reminder_offsets": ["-PT1H"]}, "body.reminder_offsets"),
        ({"chat_push_delay": "PT20M", "chat_sms_delay": "PT10M"}, "body"),
        ({"timezone": "Moon/Base"}, "body.timezone"),
        ({"quiet_hours": {"start": "21:00", "end": "21:00"}}, "body.quiet_hours"),
        ({"low_rating_threshold": 9}, "body.low_rating_threshold"),
    ],
)
async def test_invalid_settings_are_refused_naming_the_field(
    api: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    before = (await api.get("/v1/settings", headers=KEY)).json()
    response = await api.put("/v1/settings", headers=KEY, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert any(error["field"].startswith(field) for error in response.json()["errors"]), response.json()
    assert (await api.get("/v1/settings", headers=KEY)).json() == before


async def test_settings_need_the_tenant_key(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/settings")).status_code == 401


async def test_contact_round_trip_and_bad_phone(api: httpx.AsyncClient) -> None:
    contact = {
        "id": "p-9",
        "name": "Анна",
        "locale": "ru",
        "timezone": "Europe/Moscow",
        "phone": "+79161234567",
    }
    assert (await api.put("/v1/contacts/p-9", headers=KEY, json=contact)).status_code == 200
    assert (await api.get("/v1/contacts/p-9", headers=KEY)).json()["phone"] == "+79161234567"
    bad = await api.put("/v1/contacts/p-9", headers=KEY, json={**contact, "phone": "12"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.phone"
    assert (await api.get("/v1/contacts/nobody", headers=KEY)).status_code == 404
