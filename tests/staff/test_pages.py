"""Staff pages over HTTP: sign-in, CSRF, roles, the list's missing-translation marks, the UI in Russian."""

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


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


@pytest_asyncio.fixture
async def browser(store: Store, dev_env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url="sqlite://"), store=store, temporal=dev_env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://staff") as client:
            yield client


async def sign_in(browser: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    token = csrf((await browser.get("/staff/login")).text)
    return await browser.post(
        "/staff/login", data={"email": email, "password": password, "csrf_token": token}
    )


async def test_pages_need_a_session_and_a_wrong_password_is_refused(browser: httpx.AsyncClient) -> None:
    answer = await browser.get("/staff/templates")
    assert answer.status_code == 303 and answer.headers["location"] == "/staff/login"
    assert (await sign_in(browser, "admin@demo.local", "not the password")).status_code == 401


async def test_the_demo_admin_exists_from_startup(browser: httpx.AsyncClient) -> None:
    answer = await sign_in(browser, "admin@demo.local", "demo-password")
    assert answer.status_code == 303 and answer.headers["location"] == "/staff/templates"
    assert (await browser.get("/staff/users")).status_code == 200


async def test_a_form_post_without_the_csrf_token_is_refused(
    browser: httpx.AsyncClient, store: Store
) -> None:
    await sign_in(browser, await staff_user(store, "demo", Role.PUBLISHER))
    url = "/staff/templates/visit_reminder/ru/sms"
    answer = await browser.post(url, data={"body": "Привет", "action": "publish"})
    assert answer.status_code == 403
    assert await store.template_history("demo", "visit_reminder", "ru", "sms") == []


async def test_only_an_admin_manages_staff(browser: httpx.AsyncClient, store: Store) -> None:
    await sign_in(browser, await staff_user(store, "demo", Role.PUBLISHER))
    assert (await browser.get("/staff/users")).status_code == 403


async def test_the_list_marks_missing_translations_and_filters(
    browser: httpx.AsyncClient, store: Store
) -> None:
    await sign_in(browser, await staff_user(store, "demo", Role.EDITOR))
    everything = (await browser.get("/staff/templates")).text
    assert 'data-state="file"' in everything
    sms = (await browser.get("/staff/templates?lifecycle=appointment&locale=de&channel=sms")).text
    rows = re.findall(r'<tr data-key="(\w+)" data-lifecycle="(\w+)" data-channel="(\w+)">', sms)
    assert rows and all(lifecycle == "appointment" and channel == "sms" for _, lifecycle, channel in rows)


async def test_the_staff_ui_speaks_russian(browser: httpx.AsyncClient, store: Store) -> None:
    await sign_in(browser, await staff_user(store, "demo", Role.EDITOR))
    page = (await browser.get("/staff/templates?lang=ru")).text
    assert "Шаблоны сообщений" in page and "Выйти" in page
    assert "Message templates" in (await browser.get("/staff/templates?lang=en")).text
