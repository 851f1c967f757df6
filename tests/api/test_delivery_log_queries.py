"""The delivery log and the cost report over HTTP: subjects as the backend names them, costs per day."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import Settings
from domain.contacts import Contact
from domain.costs import MessagePrices
from domain.deliveries import DeliveryDraft, DeliveryOutcome, DeliveryStatus
from domain.settings import TenantSettings
from store import Store

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


async def delivered(
    store: Store,
    subject: str,
    *,
    tenant: str = "demo",
    channel: str = "sms",
    provider: str = "twilio",
    contact_id: str = "p-1",
    at: datetime | None = None,
    status: DeliveryStatus = DeliveryStatus.SENT,
) -> int:
    draft = DeliveryDraft(
        tenant=tenant,
        idempotency_key=f"q/{uuid.uuid4().hex}",
        subject=subject,
        workflow_id=f"{subject.split(':')[0]}:{tenant}:{subject.partition(':')[2]}",
        step="confirmation",
        contact_id=contact_id,
        template="appointment_confirmed",
        scheduled_for=at or datetime.now(UTC),
    )
    row, _ = await store.begin_delivery(draft)
    outcome = DeliveryOutcome(
        status=status, channel=channel, provider=provider, body="…", sent_at=at or datetime.now(UTC)
    )
    await store.finish_delivery(row.id, outcome)
    return row.id


async def subjects(api: httpx.AsyncClient, **params: str) -> list[str]:
    response = await api.get("/v1/deliveries", params=params, headers=KEY)
    assert response.status_code == 200, response.text
    return sorted(item["subject"] for item in response.json()["deliveries"])


@pytest.mark.both_stores
async def test_the_subject_is_the_aggregate_id_as_the_backend_sent_it(
    api: httpx.AsyncClient, store: Store
) -> None:
    await delivered(store, "appointment:a-1")
    await delivered(store, "lesson:a-1")
    await delivered(store, "appointment:a-10")
    await delivered(store, "invoice:inv-7")
    await delivered(store, "appointment:a-1", tenant="other")

    assert await subjects(api, subject="a-1") == ["appointment:a-1", "lesson:a-1"]
    assert await subjects(api, subject="a-1", kind="appointment") == ["appointment:a-1"]
    assert await subjects(api, subject="appointment:a-1") == ["appointment:a-1"]
    assert await subjects(api, subject="appointment:a-1", kind="appointment") == ["appointment:a-1"]
    assert await subjects(api, subject="a-1", kind="recall") == []
    assert await subjects(api, kind="appointment") == ["appointment:a-1", "appointment:a-10"]
    assert await subjects(api, kind="invoice") == ["invoice:inv-7"]


async def test_an_unknown_kind_is_a_problem_naming_it(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/deliveries", params={"subject": "a-1", "kind": "visit"}, headers=KEY)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == ["query.kind"]


async def report(api: httpx.AsyncClient, start: str, end: str, key: dict[str, str] = KEY) -> dict[str, Any]:
    response = await api.get("/v1/reports/costs", params={"from": start, "to": end}, headers=key)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.both_stores
async def test_the_cost_report_counts_messages_per_day_channel_and_provider_and_the_saving(
    api: httpx.AsyncClient, store: Store
) -> None:
    prices = MessagePrices(
        currency="EUR", per_message={"sms": 0.02, "sms/twilio": 0.05, "sms/smsaero": 0.04, "whatsapp": 0.03}
    )
    await store.put_settings("demo", TenantSettings(timezone="Europe/Moscow", message_prices=prices))
    await store.upsert_contacts(
        "demo",
        [
            Contact(id="p-ru", phone="+79161234567"),
            Contact(id="p-uk", phone="+447700900123"),
            Contact(id="p-app", push_tokens=["tok-1"]),  # no phone: push saved nothing
        ],
    )
    # 2026-03-01 in Moscow begins at 21:00 UTC on 28 February.
    day1 = datetime(2026, 2, 28, 21, 30, tzinfo=UTC)
    day2 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    await delivered(store, "appointment:c-1", contact_id="p-uk", at=day1)
    await delivered(store, "appointment:c-2", contact_id="p-uk", at=day1, status=DeliveryStatus.DELIVERED)
    await delivered(store, "appointment:c-3", contact_id="p-ru", provider="smsaero", at=day1)
    await delivered(
        store, "appointment:c-4", contact_id="p-ru", channel="telegram", provider="telegram", at=day2
    )
    await delivered(store, "appointment:c-5", contact_id="p-uk", channel="push", provider="fcm", at=day2)
    await delivered(store, "appointment:c-6", contact_id="p-app", channel="push", provider="fcm", at=day2)
    await delivered(
        store, "appointment:c-7", contact_id="p-uk", channel="whatsapp", provider="whatsapp", at=day2
    )
    # Not counted: failed or skipped, before the span, another tenant's
    await delivered(store, "appointment:c-8", at=day1, status=DeliveryStatus.FAILED)
    await delivered(store, "appointment:c-9", at=day1, status=DeliveryStatus.SKIPPED)
    await delivered(store, "appointment:c-10", at=day1 - timedelta(hours=1))
    await delivered(store, "appointment:c-11", tenant="other", at=day2)

    found = await report(api, "2026-03-01", "2026-03-02")

    assert (found["from"], found["to"], found["currency"]) == ("2026-03-01", "2026-03-02", "EUR")
    assert found["timezone"] == "Europe/Moscow"
    assert [(r["day"], r["channel"], r["provider"], r["messages"], r["cost"]) for r in found["rows"]] == [
        ("2026-03-01", "sms", "smsaero", 1, 0.04),
        ("2026-03-01", "sms", "twilio", 2, 0.1),
        ("2026-03-02", "push", "fcm", 2, 0.0),
        ("2026-03-02", "telegram", "telegram", 1, 0.0),
        ("2026-03-02", "whatsapp", "whatsapp", 1, 0.03),
    ]
    assert (found["messages"], found["cost"]) == (7, pytest.approx(0.17))
    # The Telegram message would have been an SMS Aero SMS, the push to p-uk a Twilio one.
    assert found["saving"] == {"messages": 2, "cost": pytest.approx(0.09)}
    assert (await report(api, "2026-03-01", "2026-03-02", OTHER_KEY))["messages"] == 1


async def test_default_prices_are_in_dollars_and_free_channels_cost_nothing(
    api: httpx.AsyncClient, store: Store
) -> None:
    today = datetime.now(UTC)
    await store.upsert_contact("demo", Contact(id="p-1", phone="+14155550100"))
    await delivered(store, "appointment:d-1", at=today)
    await delivered(store, "appointment:d-2", channel="telegram", provider="telegram", at=today)
    day = today.date().isoformat()
    found = await report(api, day, day)
    assert found["currency"] == "USD"
    assert {(r["channel"], r["cost"]) for r in found["rows"]} == {("sms", 0.0079), ("telegram", 0.0)}
    assert found["saving"] == {"messages": 1, "cost": 0.0079}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": "2026-03-01"}, "query.from"),
        ({"from": "2026-03-01"}, "query.to"),
        ({"from": "yesterday", "to": "2026-03-01"}, "query.from"),
        ({"from": "2026-03-01", "to": "2026-02-30"}, "query.to"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "query.to"),
        ({"from": "1999-12-31", "to": "2000-01-01"}, "query.from"),
        ({"from": "2025-01-01", "to": "2026-03-01"}, "query.to"),
    ],
)
async def test_the_cost_report_refuses_bad_dates_naming_the_field(
    api: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    response = await api.get("/v1/reports/costs", params=params, headers=KEY)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_the_cost_report_needs_the_tenant_key(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/reports/costs", params={"from": "2026-03-01", "to": "2026-03-01"})
    assert response.status_code == 401


async def test_a_price_table_with_a_channel_we_do_not_know_is_refused(api: httpx.AsyncClient) -> None:
    settings = TenantSettings().model_dump(mode="json")
    settings["message_prices"] = {"currency": "USD", "per_message": {"pigeon": 1.0}}
    response = await api.put("/v1/settings", json=settings, headers=KEY)
    assert response.status_code == 422
    assert any("message_prices" in error["field"] for error in response.json()["errors"])


@pytest.mark.both_stores
async def test_a_day_is_the_tenants_calendar_day_in_a_half_hour_zone_and_across_dst(
    api: httpx.AsyncClient, store: Store
) -> None:
    await store.put_settings("demo", TenantSettings(timezone="Asia/Kolkata"))
    # Midnight in Kolkata (+05:30) is 18:30 UTC the day before.
    await delivered(store, "appointment:k-1", at=datetime(2026, 3, 1, 18, 29, tzinfo=UTC))
    await delivered(store, "appointment:k-2", at=datetime(2026, 3, 1, 18, 31, tzinfo=UTC))
    found = await report(api, "2026-03-01", "2026-03-02")
    assert [(r["day"], r["messages"]) for r in found["rows"]] == [("2026-03-01", 1), ("2026-03-02", 1)]

    # Berlin's clocks go forward on 29 March 2026: that day has 23 hours, from 23:00 UTC the day before.
    await store.put_settings("demo", TenantSettings(timezone="Europe/Berlin"))
    await delivered(store, "appointment:b-1", at=datetime(2026, 3, 28, 22, 59, tzinfo=UTC))
    await delivered(store, "appointment:b-2", at=datetime(2026, 3, 28, 23, 1, tzinfo=UTC))
    await delivered(store, "appointment:b-3", at=datetime(2026, 3, 29, 21, 59, tzinfo=UTC))
    await delivered(store, "appointment:b-4", at=datetime(2026, 3, 29, 22, 1, tzinfo=UTC))
    found = await report(api, "2026-03-28", "2026-03-30")
    assert [(r["day"], r["messages"]) for r in found["rows"]] == [
        ("2026-03-28", 1),
        ("2026-03-29", 2),
        ("2026-03-30", 1),
    ]
