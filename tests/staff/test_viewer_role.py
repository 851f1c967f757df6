"""A viewer sees every console page and changes nothing: no draft, no contact edit, no acknowledgement,
no settings; an editor may do the first three."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from store import Store
from store.staff import Role
from tests.staff.server import console_client, csrf, sign_in

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
    async with console_client(store, dev_env.client) as client:
        yield client


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
