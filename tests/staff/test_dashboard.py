"""The dashboard over HTTP: the clinic's days counted right, rates, lateness, one tenant's figures."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import Settings
from domain.settings import TenantSettings
from store import Store
from store.staff import Role
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


async def sign_in(browser: httpx.AsyncClient, store: Store, tenant: str = "demo") -> None:
    email = await staff_user(store, tenant, Role.EDITOR)
    token = re.search(r'name="csrf_token" value="([^"]+)"', (await browser.get("/staff/login")).text)
    assert token is not None
    data = {"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    assert (await browser.post("/staff/login", data=data)).status_code == 303


def tile(html: str, name: str) -> str:
    found = re.search(rf'id="{name}">([^<]*)<', html)
    assert found is not None, name
    return found.group(1).strip()


def bar_titles(html: str, chart: str) -> list[str]:
    svg = html.split(f'id="{chart}"', 1)[1].split("</svg>", 1)[0]
    return re.findall(r"<rect [^>]*><title>([^<]+)</title>", svg)


async def test_the_dashboard_counts_messages_cost_rates_and_lateness(
    browser: httpx.AsyncClient, store: Store
) -> None:
    await store.put_settings("demo", TenantSettings(timezone="Europe/Moscow"))
    now = datetime.now(UTC).replace(microsecond=0)
    late = now + timedelta(seconds=2)
    await add_delivery(
        store, "demo", "p-1", step="reminder-24h", at=now, channel="sms", cost=0.05, sent_at=late
    )
    await add_delivery(store, "demo", "p-1", step="reminder-2h", at=now, channel="telegram", cost=0.0)
    await add_delivery(store, "demo", "p-2", at=now, channel="sms", provider="twilio", status="failed")
    await add_delivery(store, "demo", "p-2", at=now - timedelta(days=40), channel="sms")  # before the period
    for wf, kind in (
        ("a-1", "appointment.requested"),
        ("a-1", "appointment.confirmed"),
        ("a-2", "appointment.requested"),
    ):
        await add_event(store, "demo", f"appointment:{wf}", kind, {}, now)
    for wf, kind in (
        ("a-1", "appointment.completed"),
        ("a-3", "appointment.completed"),
        ("a-4", "appointment.no_show"),
    ):
        await add_event(store, "demo", f"appointment:{wf}", kind, {}, now)
    await sign_in(browser, store)
    html = (await browser.get("/staff/dashboard")).text
    assert tile(html, "total") == "3" and tile(html, "total-cost") == "0.10"
    assert tile(html, "confirmation-rate") == "50 %" and tile(html, "attendance-rate") == "67 %"
    assert tile(html, "lateness") == "0.0 / 2.0 s"  # one reminder on time, one 2 s late
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Moscow")).strftime("%d.%m")
    assert f"{today} · sms: 2" in bar_titles(html, "by-channel")
    assert f"{today} · failed: 1" in bar_titles(html, "by-status")
    assert bar_titles(html, "failures") == ["twilio: 1"]
    assert "<svg" in html and "cdn" not in html.lower()


async def test_another_tenants_messages_are_not_counted(browser: httpx.AsyncClient, store: Store) -> None:
    await add_delivery(store, "demo", "p-1", at=datetime.now(UTC))
    await store.ensure_tenant("other", "Other clinic", "other-key")
    await sign_in(browser, store, "other")
    html = (await browser.get("/staff/dashboard?days=30")).text
    assert tile(html, "total") == "0" and bar_titles(html, "by-channel") == []
