"""The template list speaks a clinic's language: names, when each is sent, the right lifecycle."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import Settings
from domain.settings import TenantSettings
from store import Store
from store.staff import Role
from tests.staff.server import PASSWORD, staff_user


@pytest_asyncio.fixture
async def browser(store: Store, dev_env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url="sqlite://"), store=store, temporal=dev_env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://staff") as client:
            email = await staff_user(store, "demo", Role.EDITOR)
            token = re.search(r'name="csrf_token" value="([^"]+)"', (await client.get("/staff/login")).text)
            assert token is not None
            data = {"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
            assert (await client.post("/staff/login", data=data)).status_code == 303
            yield client


def about(html: str, key: str) -> str:
    found = re.search(rf'<tr class="about" data-about="{key}">(.*?)</tr>', html, re.S)
    assert found is not None, key
    return re.sub(r"\s+", " ", found.group(1))


def group_of(html: str, key: str) -> str:
    found = re.search(rf'data-key="{key}" data-lifecycle="(\w+)"', html)
    assert found is not None, key
    return found.group(1)


async def test_templates_have_names_and_say_when_they_are_sent(browser: httpx.AsyncClient) -> None:
    html = (await browser.get("/staff/templates")).text
    assert "Visit reminder" in about(html, "visit_reminder")
    assert "24 h and 2 h before the visit" in about(html, "visit_reminder")
    assert "on the due date, then 3 d and 7 d after it" in about(html, "payment_nudge")
    assert "30 min after an online booking nobody has confirmed" in about(html, "staff_confirmation_overdue")


async def test_the_when_line_follows_the_tenants_settings(browser: httpx.AsyncClient, store: Store) -> None:
    offsets = [timedelta(hours=48), timedelta(hours=3)]
    await store.put_settings("demo", TenantSettings(reminder_offsets=offsets, low_rating_threshold=2))
    html = (await browser.get("/staff/templates")).text
    assert "2 d and 3 h before the visit" in about(html, "visit_reminder")
    assert "rates a visit 2 of 5 or lower" in about(html, "staff_low_rating")


async def test_billing_templates_are_not_filed_under_appointments(browser: httpx.AsyncClient) -> None:
    html = (await browser.get("/staff/templates")).text
    assert group_of(html, "balance_nudge") == group_of(html, "payment_nudge") == "billing"
    assert group_of(html, "staff_payment_overdue") == "billing"
    assert group_of(html, "staff_delivery_failed") == "any"
    assert group_of(html, "lesson_reminder") == "lesson" and group_of(html, "visit_reminder") == "appointment"
    billing = (await browser.get("/staff/templates?lifecycle=billing")).text
    assert set(re.findall(r'data-lifecycle="(\w+)" data-channel', billing)) == {"billing"}


async def test_live_overrides_and_missing_locales_are_marked(
    browser: httpx.AsyncClient, store: Store
) -> None:
    draft = await store.save_template_draft("demo", "visit_reminder", "ru", "sms", {"body": "Ждём вас"}, "ed")
    await store.publish_template("demo", draft.id, "ed")
    await store.save_template_draft("demo", "visit_reminder", "fr", "sms", {"body": "À demain"}, "ed")
    html = (await browser.get("/staff/templates")).text
    assert "1 live override" in about(html, "visit_reminder")
    assert "live override" not in about(html, "booking_received")
    assert "missing in fr" in about(html, "booking_received")  # French exists for one template only


async def test_the_template_list_speaks_russian(browser: httpx.AsyncClient) -> None:
    html = (await browser.get("/staff/templates?lang=ru")).text
    assert "Напоминание о визите" in about(html, "visit_reminder")
    assert "за 24 ч и 2 ч до визита" in about(html, "visit_reminder")
    assert "Счета и баланс" in html
