"""The settings page: validated like the API, previewed on a sample visit, audited, admins only."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import time, timedelta

import httpx
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from api.staff.settings_form import to_form
from domain.settings import TenantSettings
from store import Store
from store.staff import Role
from tests.staff.server import console_client, csrf, sign_in


@pytest_asyncio.fixture
async def browser(store: Store, dev_env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    async with console_client(store, dev_env.client) as client:
        yield client


async def post(browser: httpx.AsyncClient, action: str, **changes: str) -> httpx.Response:
    page = (await browser.get("/staff/settings")).text
    form = {k: v for k, v in to_form(TenantSettings(timezone="Europe/Moscow")).items() if v is not False}
    form.update({"quiet_enabled": "1", "csrf_token": csrf(page), "action": action, **changes})
    return await browser.post("/staff/settings", data=form)


def preview(html: str) -> dict[str, str]:
    box = html.split('id="preview"', 1)[1].split("</div>", 1)[0]
    return {
        o: re.sub(r"<[^>]+>", "", w).strip()
        for o, w in re.findall(r'data-offset="(\w+)">\w+: (.*?)</li>', box, re.S)
    }


async def test_an_admin_changes_quiet_hours_and_the_change_is_audited(
    browser: httpx.AsyncClient, store: Store
) -> None:
    await store.put_settings("demo", TenantSettings(timezone="Europe/Moscow"))
    email = await sign_in(browser, store, Role.ADMIN)
    answer = await post(browser, "save", quiet_start="22:00", quiet_end="07:00")
    assert answer.status_code == 303 and answer.headers["location"] == "/staff/settings?saved=1"
    saved = await store.get_settings("demo")
    assert saved.quiet_hours is not None and (saved.quiet_hours.start, saved.quiet_hours.end) == (
        time(22),
        time(7),
    )
    html = (await browser.get("/staff/settings?saved=1")).text
    audit = html.split('id="audit"', 1)[1]
    assert email in audit and "quiet_hours" in audit and "21:00:00" in audit and "22:00:00" in audit


async def test_the_preview_moves_a_reminder_without_saving(browser: httpx.AsyncClient, store: Store) -> None:
    await store.put_settings("demo", TenantSettings(timezone="Europe/Moscow"))
    await sign_in(browser, store, Role.EDITOR)  # anyone may preview
    before = preview((await browser.get("/staff/settings")).text)
    assert before == {"24h": "Sun 09:00", "2h": "Sun 21:00 (moved by quiet hours)"}
    after = await post(browser, "preview", quiet_start="22:00", quiet_end="07:00")
    assert after.status_code == 200
    assert preview(after.text) == {"24h": "Sun 09:00", "2h": "Mon 07:00"}
    assert (await store.get_settings("demo")).quiet_hours.start == time(21)  # type: ignore[union-attr]


async def test_wrong_values_are_refused_with_the_field_named(
    browser: httpx.AsyncClient, store: Store
) -> None:
    await sign_in(browser, store, Role.ADMIN)
    for field, value, says in (
        ("reminder_offsets", "24 hours", "not a duration"),
        ("reminder_offsets", "2h, 2h", "distinct"),
        ("chat_sms_delay", "2s", "chat_sms_delay must be longer"),
        ("timezone", "Mars/Olympus", "unknown IANA timezone"),
        ("provider_credentials", "smsaero = secret value", "ENVIRONMENT_VARIABLE"),
    ):
        answer = await post(browser, "save", **{field: value})
        assert answer.status_code == 422, field
        assert says in answer.text, field
    assert await store.get_settings("demo") == TenantSettings()
    assert 'id="audit"' in answer.text and "No changes yet." in answer.text


async def test_only_an_admin_saves_settings(browser: httpx.AsyncClient, store: Store) -> None:
    await sign_in(browser, store, Role.PUBLISHER)
    html = (await browser.get("/staff/settings")).text
    assert 'id="read-only"' in html and 'value="save"' not in html
    assert (await post(browser, "save", reminder_offsets="3h")).status_code == 403
    assert (await store.get_settings("demo")).reminder_offsets == [timedelta(hours=24), timedelta(hours=2)]


async def test_a_settings_form_without_the_csrf_token_is_refused(
    browser: httpx.AsyncClient, store: Store
) -> None:
    await sign_in(browser, store, Role.ADMIN)
    answer = await browser.post("/staff/settings", data={"action": "save", "reminder_offsets": "3h"})
    assert answer.status_code == 403


async def test_another_tenants_changes_are_not_shown(browser: httpx.AsyncClient, store: Store) -> None:
    await sign_in(browser, store, Role.ADMIN)
    assert (await post(browser, "save", reminder_offsets="3h")).status_code == 303
    await store.ensure_tenant("other", "Other clinic", "other-key")
    browser.cookies.clear()
    await sign_in(browser, store, Role.ADMIN, "other")
    html = (await browser.get("/staff/settings")).text
    assert "No changes yet." in html and 'value="24h, 2h"' in html


async def test_a_change_through_the_api_is_audited_too(browser: httpx.AsyncClient, store: Store) -> None:
    key = {"Authorization": "Bearer demo-key"}
    answer = await browser.put("/v1/settings", headers=key, json={"reminder_offsets": ["PT3H"]})
    assert answer.status_code == 200 and answer.json()["reminder_offsets"] == ["PT3H"]
    await sign_in(browser, store, Role.ADMIN)
    audit = (await browser.get("/staff/settings")).text.split('id="audit"', 1)[1]
    assert "API key" in audit and "reminder_offsets" in audit and "PT3H" in audit
