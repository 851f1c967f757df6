"""The staff UI in Debian's Chromium: edit, preview, publish, and the next reminder speaks the new text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect
from temporalio.testing import WorkflowEnvironment

from domain.settings import TenantSettings
from store import Store
from store.staff import Role
from tests.factories import appointment
from tests.staff.server import CHROMIUM, CHROMIUM_ARGS, PASSWORD, require_chromium, serving, staff_user
from tests.store.backends import database_url
from tests.workflows.harness import running_clinic

MOSCOW = ZoneInfo("Europe/Moscow")
EDITOR_URL = "/staff/templates/visit_reminder/ru/sms"
NEW_TEXT = (
    "Клиника «Улыбка»: ждём вас {{ appointment.starts_at | relative_day }} "
    "в {{ appointment.starts_at | time }}, "
    "{{ appointment.location.address }}. Возьмите паспорт и полис ОМС. Если планы изменились, позвоните нам. "
    "Придёте? Ответьте 1 — да, 2 — нет."
)


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest_asyncio.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(database_url("sqlite", tmp_path))
    await store.ensure_tenant("demo", "Demo clinic", "demo-key")
    yield store
    await store.close()


async def sign_in(browser: Browser, base: str, email: str) -> Page:
    page = await browser.new_page(base_url=base)
    await page.goto("/staff/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{base}/staff/templates")
    return page


async def test_a_published_russian_sms_is_what_the_next_reminder_sends(
    browser: Browser,
    sqlite_store: Store,
    time_env: WorkflowEnvironment,
    dev_env: WorkflowEnvironment,
    task_queue: str,
) -> None:
    async with running_clinic(time_env, sqlite_store, task_queue) as clinic:
        await sqlite_store.put_settings(clinic.tenant, TenantSettings(timezone="Europe/Moscow"))
        email = await staff_user(sqlite_store, clinic.tenant, Role.PUBLISHER)
        async with serving(sqlite_store, dev_env.client) as base:
            page = await sign_in(browser, base, email)
            await page.goto(EDITOR_URL)
            count = page.locator("#sms-count")
            await expect(count).to_have_attribute("data-segments", "2")
            await expect(count).to_contain_text("UCS-2")

            await page.fill("#body", NEW_TEXT)
            await expect(page.locator("#preview-body")).to_contain_text("Возьмите паспорт и полис ОМС")
            await expect(count).to_have_attribute("data-segments", "3")

            await page.click("button[value=publish]")
            await expect(page.locator("#live")).to_contain_text(f"v1 ({email}")

        await clinic.wait_until_local(time(12, 0))
        today = (await clinic.now()).astimezone(MOSCOW).date()
        starts_at = datetime.combine(today + timedelta(days=3), time(14, 0), tzinfo=MOSCOW)
        await clinic.post("appointment.confirmed", appointment("a-1", starts_at))
        await clinic.advance_to(starts_at - timedelta(hours=23), "a-1")

        reminder = next(row for row in await clinic.deliveries("a-1") if row.step.startswith("reminder-24h"))
        assert reminder.status == "sent" and reminder.channel == "sms"
        assert reminder.body is not None and "Возьмите паспорт и полис ОМС" in reminder.body
        assert "в 14:00, Москва, ул. Арбат, 10" in reminder.body


async def test_a_template_with_a_syntax_error_is_refused_with_its_line(
    browser: Browser, sqlite_store: Store, dev_env: WorkflowEnvironment
) -> None:
    email = await staff_user(sqlite_store, "demo", Role.EDITOR)
    async with serving(sqlite_store, dev_env.client) as base:
        page = await sign_in(browser, base, email)
        await page.goto(EDITOR_URL)
        await page.fill("#body", "Напоминаем о приёме.\n{% if appointment.starts_at %}\nЖдём вас!")
        await expect(page.locator("#preview .error")).to_contain_text("line 3")
        await page.click("button[value=save]")
        await expect(page.locator("#save-errors")).to_contain_text("body, line 3: syntax error")
    assert await sqlite_store.template_history("demo", "visit_reminder", "ru", "sms") == []


async def test_an_editor_sees_no_publish_button_and_cannot_publish(
    browser: Browser, sqlite_store: Store, dev_env: WorkflowEnvironment
) -> None:
    email = await staff_user(sqlite_store, "demo", Role.EDITOR)
    async with serving(sqlite_store, dev_env.client) as base:
        page = await sign_in(browser, base, email)
        await page.goto(EDITOR_URL)
        await expect(page.locator("button[value=save]")).to_be_visible()
        await expect(page.locator("button[value=publish]")).to_have_count(0)

        await page.click("button[value=save]")  # a draft is fine
        [draft] = await sqlite_store.template_history("demo", "visit_reminder", "ru", "sms")
        token = await page.locator("meta[name=csrf-token]").get_attribute("content")
        answer = await page.request.post(
            f"/staff/versions/{draft.id}/publish", form={"csrf_token": token or ""}, max_redirects=0
        )
        assert answer.status == 403
        answer = await page.request.post(
            EDITOR_URL, form={"csrf_token": token or "", "body": "x", "action": "publish"}, max_redirects=0
        )
        assert answer.status == 403
    assert await sqlite_store.published_templates("demo") == []
