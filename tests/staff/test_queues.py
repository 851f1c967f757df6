"""Work queues over HTTP: late bookings against the SLA, failed and unknown deliveries, low ratings,
each acknowledged once with the name of who did it; another tenant's items never appear."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import Settings
from store import Store
from store.staff import Role
from store.tables import InboundReplyRow
from tests.factories import patient
from tests.staff.console_data import add_delivery, add_event
from tests.staff.server import PASSWORD, staff_user

# SQL that differs by backend: each test runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores


@pytest_asyncio.fixture
async def browser(store: Store, dev_env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url="sqlite://"), store=store, temporal=dev_env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://staff") as client:
            yield client


async def sign_in(browser: httpx.AsyncClient, store: Store, tenant: str = "demo") -> str:
    email = await staff_user(store, tenant, Role.EDITOR)
    token = csrf((await browser.get("/staff/login")).text)
    data = {"email": email, "password": PASSWORD, "csrf_token": token}
    assert (await browser.post("/staff/login", data=data)).status_code == 303
    return email


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def items(html: str, table: str) -> list[str]:
    section = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr data-item="([^"]+)">', section)


async def a_busy_morning(store: Store, tenant: str = "demo") -> dict[str, str]:
    now = datetime.now(UTC)
    late = now - timedelta(minutes=45)  # the default SLA is 30 min: 15 min overdue
    fresh = now - timedelta(minutes=25)  # 5 min left
    booking = {"patient": patient(), "starts_at": (now + timedelta(days=1)).isoformat()}
    await add_event(store, tenant, "appointment:a-late", "appointment.requested", booking, late)
    await add_event(store, tenant, "appointment:a-fresh", "appointment.requested", booking, fresh)
    await add_event(store, tenant, "appointment:a-done", "appointment.requested", booking, late)
    await add_event(store, tenant, "appointment:a-done", "appointment.confirmed", booking, fresh)
    low = {"subject_id": "a-old", "rating": 2, "comment": "Долго ждала в коридоре"}
    await add_event(store, tenant, "appointment:a-old", "feedback.submitted", low, fresh)
    happy = {"subject_id": "a-old2", "rating": 5, "comment": "Спасибо"}
    await add_event(store, tenant, "appointment:a-old2", "feedback.submitted", happy, fresh)
    failed = await add_delivery(
        store, tenant, "p-1", status="failed", reason="no channel reached the recipient"
    )
    unknown = await add_delivery(store, tenant, "p-1", subject="appointment:a-2", status="unknown")
    await add_delivery(store, tenant, "p-1", subject="appointment:a-3", status="sent")
    return {"failed": str(failed), "unknown": str(unknown)}


async def test_the_queues_show_what_waits_for_a_person(browser: httpx.AsyncClient, store: Store) -> None:
    ids = await a_busy_morning(store)
    await sign_in(browser, store)
    html = (await browser.get("/staff/queues")).text
    assert items(html, "bookings") == ["appointment:demo:a-late", "appointment:demo:a-fresh"]
    late, fresh = re.findall(r'<span class="(overdue|soon)">([^<]+)</span>', html)
    assert late[0] == "overdue" and "15 min" in late[1]
    assert fresh[0] == "soon" and "left" in fresh[1]
    assert items(html, "failed") == [ids["unknown"], ids["failed"]]
    assert len(items(html, "ratings")) == 1 and "Долго ждала в коридоре" in html and "Спасибо" not in html


async def test_an_acknowledged_item_leaves_its_queue_and_names_who(
    browser: httpx.AsyncClient, store: Store
) -> None:
    ids = await a_busy_morning(store)
    email = await sign_in(browser, store)
    html = (await browser.get("/staff/queues")).text
    [rating] = items(html, "ratings")
    token = csrf(html)
    for queue, item in (
        ("rating", rating),
        ("delivery", ids["failed"]),
        ("booking", "appointment:demo:a-late"),
    ):
        answer = await browser.post(f"/staff/queues/{queue}/ack", data={"item": item, "csrf_token": token})
        assert answer.status_code == 303
    again = await browser.post("/staff/queues/rating/ack", data={"item": rating, "csrf_token": token})
    assert again.status_code == 303  # twice is once
    html = (await browser.get("/staff/queues")).text
    assert items(html, "ratings") == [] and items(html, "failed") == [ids["unknown"]]
    assert items(html, "bookings") == ["appointment:demo:a-fresh"]
    acknowledged = html.split('id="acknowledged"', 1)[1]
    assert acknowledged.count(email) == 3


async def test_acknowledging_needs_the_csrf_token(browser: httpx.AsyncClient, store: Store) -> None:
    ids = await a_busy_morning(store)
    await sign_in(browser, store)
    answer = await browser.post("/staff/queues/delivery/ack", data={"item": ids["failed"]})
    assert answer.status_code == 403
    assert ids["failed"] in items((await browser.get("/staff/queues")).text, "failed")


async def test_another_tenants_queues_stay_theirs(browser: httpx.AsyncClient, store: Store) -> None:
    await a_busy_morning(store, "demo")
    await store.ensure_tenant("other", "Other clinic", "other-key")
    await sign_in(browser, store, "other")
    html = (await browser.get("/staff/queues")).text
    assert items(html, "bookings") == items(html, "failed") == items(html, "ratings") == []


async def test_a_reply_nobody_understood_waits_until_acknowledged(
    browser: httpx.AsyncClient, store: Store
) -> None:
    async with AsyncSession(store.engine) as session, session.begin():
        for n, (intent, text) in enumerate((("unknown", "а можно перенести на пятницу?"), ("confirm", "да"))):
            session.add(
                InboundReplyRow(
                    tenant="demo", contact_id="p-1", channel="sms", provider="smsaero", message_id=f"m-{n}",
                    sender="+79161234567", text=text, intent=intent, outcome="", at=datetime.now(UTC),
                )
            )  # fmt: skip
    await sign_in(browser, store)
    html = (await browser.get("/staff/queues")).text
    [item] = items(html, "replies")
    assert "а можно перенести на пятницу?" in html and "“да”" not in html
    answer = await browser.post("/staff/queues/reply/ack", data={"item": item, "csrf_token": csrf(html)})
    assert answer.status_code == 303
    assert items((await browser.get("/staff/queues")).text, "replies") == []
