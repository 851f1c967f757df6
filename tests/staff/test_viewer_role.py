"""A viewer sees every console page and changes nothing: no draft, no contact edit, no acknowledgement,
no settings; an editor may do the first three."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import Settings
from store import Store
from store.staff import Role
from tests.staff.server import PASSWORD, staff_user

PAGES = [
    "/staff/templates",
    "/staff/deliveries",
    "/staff/queues",
    "/staff/contacts",
    "/staff/settings",
    "/staff/dashboard",
]


@pytest_asyncio.fixture
async def browser(store: Store, dev_env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url="sqlite://"), store=store, temporal=dev_env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://staff") as client:
            yield client


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def sign_in(browser: httpx.AsyncClient, store: Store, role: Role) -> str:
    email = await staff_user(store, "demo", role)
    token = csrf((await browser.get("/staff/login")).text)
    data = {"email": email, "password": PASSWORD, "csrf_token": token}
    assert (await browser.post("/staff/login", data=data)).status_code == 303
    return token


async def test_a_viewer_sees_every_page_and_changes_nothing(browser: httpx.AsyncClient, store: Store) -> None:
    await sign_in(browser, store, Role.VIEWER)
    for path in PAGES:
        assert (await browser.get(path)).status_code == 200, path
    token = csrf((await browser.get("/staff/settings")).text)
    writes = {
        "/staff/templates/visit_reminder/ru/default": {"body": "Изменено", "action": "save"},
        "/staff/queues/failed/ack": {"item": "delivery:1"},
        "/staff/contacts/p-1/dead": {"address": "sms:+79990000000"},
        "/staff/settings": {"action": "save", "quiet_start": "22:00"},
    }
    for path, form in writes.items():
        answer = await browser.post(path, data=form | {"csrf_token": token})
        assert answer.status_code == 403, path
    assert await store.template_history("demo", "visit_reminder", "ru", "default") == []


async def test_an_editor_may_save_a_draft_but_not_the_settings(
    browser: httpx.AsyncClient, store: Store
) -> None:
    await sign_in(browser, store, Role.EDITOR)
    token = csrf((await browser.get("/staff/settings")).text)
    form = {"body": "Напоминание: {{ appointment.starts_at | time }}", "action": "save", "csrf_token": token}
    saved = await browser.post("/staff/templates/visit_reminder/ru/default", data=form)
    assert saved.status_code in (200, 303)
    settings = await browser.post("/staff/settings", data={"action": "save", "csrf_token": token})
    assert settings.status_code == 403
