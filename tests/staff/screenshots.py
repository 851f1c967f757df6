"""Screenshots of every console page in English and Russian for the README:
`.venv/bin/python -m tests.staff.screenshots` (or `make screenshots`) rewrites docs/console/*.png.

A clinic with a running appointment (on Temporal's time-skipping test server), two weeks of
deliveries, a late booking, a failed message and a low rating, shown in Debian's Chromium.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.async_api import async_playwright
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain.consent import ConsentCategory, ConsentChange, ConsentSource
from domain.contacts import Channel, Contact
from domain.settings import TenantSettings
from store import Store, migrate
from store.consent import Ledger
from store.staff import Role
from tests.conftest import BIN
from tests.factories import appointment, patient
from tests.staff.console_data import add_delivery, add_event
from tests.staff.server import CHROMIUM, CHROMIUM_ARGS, PASSWORD, serving, staff_user
from tests.workflows.harness import running_clinic

OUT = Path(__file__).resolve().parents[2] / "docs" / "console"
MOSCOW = ZoneInfo("Europe/Moscow")
PAGES = {
    "dashboard": "/staff/dashboard",
    "deliveries": "/staff/deliveries",
    "message": "",  # the newest failed message, found below
    "timelines": "/staff/timeline",
    "timeline": "/staff/timeline/appointment/a-1",
    "queues": "/staff/queues",
    "contact": "/staff/contacts/patient-1",
    "templates": "/staff/templates",
    "settings": "/staff/settings",
}
NAMES = ["Ольга Смирнова", "Игорь Петров", "Maria Rossi", "Дмитрий Орлов", "Екатерина Волкова"]


async def a_fortnight(store: Store, tenant: str) -> int:
    """Two weeks of messages over every channel, a failed one (its id), a late booking, a low rating."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    contacts = [
        Contact(id=f"p-{n}", name=name, phone=f"+7916555{n:04d}", locale="ru", timezone="Europe/Moscow")
        for n, name in enumerate(NAMES)
    ]
    await store.upsert_contacts(tenant, [Contact.model_validate(patient()), *contacts])
    channels = [("sms", "smsaero", 0.05), ("telegram", "telegram", 0.0), ("whatsapp", "whatsapp", 0.03)]
    for n in range(160):
        channel, provider, cost = rng.choice(channels)
        status = rng.choice(("delivered", "delivered", "read", "sent", "skipped"))
        at = now - timedelta(days=rng.randrange(14), minutes=rng.randrange(600))
        await add_delivery(
            store, tenant, f"p-{n % len(NAMES)}", subject=f"appointment:a-{100 + n // 2}",
            step=rng.choice(("reminder-24h", "reminder-2h", "confirmed")), channel=channel,
            provider=provider, status=status, cost=cost, at=at, body="Напоминаем о приёме завтра в 10:00.",
            sent_at=at + timedelta(seconds=rng.random() * 3) if status != "skipped" else None,
        )  # fmt: skip
    blocked = "telegram: Forbidden: bot was blocked by the user"
    failed = await add_delivery(
        store, tenant, "patient-1", subject="appointment:a-7", channel="telegram", provider="telegram",
        status="failed", reason=blocked, at=now - timedelta(hours=3),
    )  # fmt: skip
    await store.mark_dead_address(tenant, "patient-1", "telegram:4417")
    stop = ConsentChange(
        contact_id="patient-1", category=ConsentCategory.MARKETING, status="revoked", channel=Channel.SMS,
        contact_point="+79161234567", source=ConsentSource.KEYWORD, evidence={"text": "СТОП"},
        actor="+79161234567",
    )  # fmt: skip
    await Ledger(store.engine).append(tenant, [stop])
    booking = {"patient": patient(), "starts_at": (now + timedelta(hours=14)).isoformat()}
    await add_event(
        store, tenant, "appointment:a-9", "appointment.requested", booking, now - timedelta(minutes=48)
    )
    rating = {"subject_id": "a-5", "rating": 2, "comment": "Долго ждала в коридоре, врач опоздал на 40 минут"}
    await add_event(store, tenant, "appointment:a-5", "feedback.submitted", rating, now - timedelta(hours=2))
    return failed


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'shots.db'}"
        migrate(url)
        store = Store(url)
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(BIN / "temporal-test-server"),
            data_converter=pydantic_data_converter,
        )
        try:
            async with running_clinic(env, store, "screenshots") as clinic:
                await store.put_settings(clinic.tenant, TenantSettings(timezone="Europe/Moscow"))
                await clinic.wait_until_local(time(12, 0))
                tomorrow = (await clinic.now()).astimezone(MOSCOW).date() + timedelta(days=1)
                starts = datetime.combine(tomorrow, time(11, 30), tzinfo=MOSCOW)
                await clinic.post("appointment.confirmed", appointment("a-1", starts))
                failed = await a_fortnight(store, clinic.tenant)
                email = await staff_user(store, clinic.tenant, Role.ADMIN)
                async with serving(store, env.client) as base, async_playwright() as playwright:
                    browser = await playwright.chromium.launch(
                        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                    )
                    page = await browser.new_page(base_url=base, viewport={"width": 1280, "height": 860})
                    await page.goto("/staff/login")
                    await page.fill("input[name=email]", email)
                    await page.fill("input[name=password]", PASSWORD)
                    await page.click("button[type=submit]")
                    await page.wait_for_url(f"{base}/staff/templates")
                    for lang in ("en", "ru"):
                        for name, path in PAGES.items():
                            await page.goto(f"{path or f'/staff/deliveries/{failed}'}?lang={lang}")
                            await page.screenshot(path=str(OUT / f"{name}-{lang}.png"))
                    await page.set_viewport_size({"width": 390, "height": 844})
                    await page.goto("/staff/deliveries?lang=ru")
                    await page.screenshot(path=str(OUT / "deliveries-phone-ru.png"))
                    await browser.close()
        finally:
            await store.close()
            await env.shutdown()
    print(f"screenshots in {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
