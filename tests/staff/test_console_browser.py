"""The console in Debian's Chromium, at 1280 px and on a phone: find a patient by phone, read the
appointment's timeline, acknowledge a low rating, move a reminder with quiet hours in the settings'
preview; a viewer cannot save settings; no page scrolls sideways on a phone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect
from temporalio.testing import WorkflowEnvironment

from domain.contacts import Contact
from domain.settings import TenantSettings
from store import Store
from store.staff import Role
from tests.factories import appointment, patient
from tests.staff.console_data import add_event
from tests.staff.server import CHROMIUM, CHROMIUM_ARGS, PASSWORD, require_chromium, serving, staff_user
from tests.store.backends import database_url
from tests.workflows.harness import running_clinic

MOSCOW = ZoneInfo("Europe/Moscow")
PAGES = (
    "/staff/dashboard",
    "/staff/deliveries",
    "/staff/queues",
    "/staff/templates",
    "/staff/timeline/appointment/a-1",
    "/staff/contacts/patient-1",
    "/staff/settings",
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
    yield store
    await store.close()


async def sign_in(browser: Browser, base: str, email: str, width: int, height: int) -> Page:
    page = await browser.new_page(base_url=base, viewport={"width": width, "height": height})
    await page.goto("/staff/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/staff/templates")
    return page


@pytest.mark.lasts(12)
async def test_an_administrator_finds_a_patient_reads_the_timeline_and_acknowledges_a_rating(
    browser: Browser, sqlite_store: Store, time_env: WorkflowEnvironment, task_queue: str
) -> None:
    store = sqlite_store
    async with running_clinic(time_env, store, task_queue) as clinic:
        await store.put_settings(clinic.tenant, TenantSettings(timezone="Europe/Moscow"))
        await store.upsert_contact(clinic.tenant, Contact.model_validate(patient()))
        await clinic.wait_until_local(time(12, 0))
        tomorrow = (await clinic.now()).astimezone(MOSCOW).date() + timedelta(days=1)
        await clinic.post(
            "appointment.confirmed", appointment("a-1", datetime.combine(tomorrow, time(11, 30), MOSCOW))
        )
        rating = {"subject_id": "a-0", "rating": 1, "comment": "Нагрубили на ресепшене"}
        await add_event(
            store, clinic.tenant, "appointment:a-0", "feedback.submitted", rating, datetime.now(UTC)
        )
        await store.ensure_tenant("other", "Other clinic", "other-key")
        await store.upsert_contact("other", Contact(id="x-1", name="Чужой пациент", phone="+79160000000"))
        email = await staff_user(store, clinic.tenant, Role.ADMIN)

        async with serving(store, time_env.client) as base:
            page = await sign_in(browser, base, email, 1280, 800)
            await page.click("header >> text=Delivery log")
            await page.fill("input[name=patient]", "+7 916 123-45-67")
            await page.click("#log-filters button[type=submit]")
            await expect(page.locator("#log tbody tr[data-id]")).to_have_count(2)  # confirmation, stale 24 h
            await page.fill("input[name=patient]", "Чужой")
            await page.click("#log-filters button[type=submit]")
            await expect(page.locator("#log tbody tr[data-id]")).to_have_count(0)

            await page.fill("input[name=patient]", "+79161234567")
            await page.click("#log-filters button[type=submit]")
            await page.locator("#log a[href='/staff/timeline/appointment/a-1']").first.click()
            await expect(page.locator("#sent tr[data-step^='reminder-24h']")).to_contain_text("too late")
            planned = page.locator("#planned tr[data-step^='reminder-2h']")
            await expect(planned).to_contain_text(f"{tomorrow.isoformat()} 09:30")
            await expect(planned).to_contain_text("2 h before the start")

            await page.click("header >> text=Work queues")
            await expect(page.locator("#ratings")).to_contain_text("Нагрубили на ресепшене")
            await page.locator("#ratings button.ack").click()
            await expect(page.locator("#ratings tr[data-item]")).to_have_count(0)
            await expect(page.locator("#acknowledged")).to_contain_text(email)

            await page.goto("/staff/templates")
            await expect(page.locator("[data-about=balance_nudge]")).to_contain_text("Low balance reminder")

            await page.click("header >> text=Settings")
            two_hours = page.locator("#preview li[data-offset='2h']")
            await expect(two_hours).to_contain_text("Sun 21:00")  # 07:00 falls in quiet hours 21-09
            await page.fill("#f-quiet_start", "22:00")
            await page.fill("#f-quiet_end", "07:00")
            await expect(two_hours).to_contain_text("Mon 07:00")  # the preview follows the typing
            await page.click("button[value=preview]")
            await expect(two_hours).to_contain_text("Mon 07:00")
            await page.click("button[value=save]")
            await expect(page.locator("#saved")).to_be_visible()
            await expect(page.locator("#audit")).to_contain_text(email)
            await page.close()

            viewer = await staff_user(store, clinic.tenant, Role.VIEWER)
            phone = await sign_in(browser, base, viewer, 390, 844)
            await phone.goto("/staff/settings")
            await expect(phone.locator("#read-only")).to_be_visible()
            await expect(phone.locator("button[value=save]")).to_have_count(0)
            for path in PAGES:
                await phone.goto(f"{path}?lang=ru")
                await expect(phone.locator("h1")).to_be_visible()
                overflow = await phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 1, f"{path} scrolls sideways on a phone by {overflow}px"
            await phone.goto("/staff/deliveries?patient=%2B79161234567")
            await expect(phone.locator("#log tbody tr[data-id]").first).to_be_visible()
