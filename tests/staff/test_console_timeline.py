"""The console's timeline of a running appointment: stale reminders skipped, quiet hours explained."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import Settings
from domain.contacts import Contact
from domain.settings import TenantSettings
from store import Store
from store.staff import Role
from tests.factories import appointment, balance, chat_message, invoice, lesson
from tests.staff.console_data import add_delivery, add_event
from tests.staff.server import PASSWORD, staff_user
from tests.workflows.harness import running_clinic

MOSCOW = ZoneInfo("Europe/Moscow")


@asynccontextmanager
async def signed_in(
    store: Store, temporal: WorkflowEnvironment, tenant: str
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url="sqlite://"), store=store, temporal=temporal.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://staff") as client:
            email = await staff_user(store, tenant, Role.EDITOR)
            token = re.search(r'name="csrf_token" value="([^"]+)"', (await client.get("/staff/login")).text)
            assert token is not None
            data = {"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
            assert (await client.post("/staff/login", data=data)).status_code == 303
            yield client


def row(html: str, table: str, step: str) -> str:
    section = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    found = re.search(rf'<tr data-step="{re.escape(step)}[^"]*".*?</tr>', section, re.S)
    assert found is not None, f"no {step} in {table}"
    return found.group(0)


async def test_the_timeline_shows_the_stale_24h_reminder_skipped_and_the_2h_one_planned(
    store: Store, time_env: WorkflowEnvironment, task_queue: str
) -> None:
    async with running_clinic(time_env, store, task_queue) as clinic:
        await store.put_settings(clinic.tenant, TenantSettings(timezone="Europe/Moscow"))
        await clinic.wait_until_local(time(12, 0))
        tomorrow = (await clinic.now()).astimezone(MOSCOW).date() + timedelta(days=1)
        soon = datetime.combine(tomorrow, time(11, 30), tzinfo=MOSCOW)
        early = datetime.combine(tomorrow, time(10, 0), tzinfo=MOSCOW)
        await clinic.post("appointment.confirmed", appointment("a-1", soon))
        await clinic.post("appointment.confirmed", appointment("a-2", early))
        await add_event(
            store, clinic.tenant, "appointment:a-1", "appointment.confirmed", {"starts_at": soon.isoformat()}
        )

        async with signed_in(store, time_env, clinic.tenant) as browser:
            html = (await browser.get("/staff/timeline/appointment/a-1")).text
            stale = row(html, "sent", "reminder-24h")
            assert "skipped" in stale and "too late" in stale
            planned = row(html, "planned", "reminder-2h")
            assert f"{tomorrow.isoformat()} 09:30" in planned and "2 h before the start" in planned
            assert "Анна Петрова" in html and "appointment.confirmed" in html
            assert f"starts_at:</span> {soon.isoformat()}" in html

            moved = row((await browser.get("/staff/timeline/appointment/a-2")).text, "planned", "reminder-2h")
            assert "moved by quiet hours" in moved and f"{tomorrow.isoformat()} 08:00" in moved

            found = await browser.get("/staff/timeline?kind=appointment&id=a-1")
            assert found.headers["location"] == "/staff/timeline/appointment/a-1"
            assert (await browser.get("/staff/timeline/appointment/nope")).status_code == 404


async def test_another_tenants_staff_cannot_open_the_timeline(
    store: Store, time_env: WorkflowEnvironment, task_queue: str
) -> None:
    async with running_clinic(time_env, store, task_queue) as clinic:
        await clinic.post(
            "appointment.confirmed", appointment("a-1", (await clinic.now()) + timedelta(days=3))
        )
        await store.ensure_tenant("other", "Other clinic", "other-key")
        async with signed_in(store, time_env, "other") as browser:
            assert (await browser.get("/staff/timeline/appointment/a-1")).status_code == 404


async def test_what_went_out_shows_the_recipients_own_clock_beside_the_clinics(
    store: Store, dev_env: WorkflowEnvironment
) -> None:
    await store.put_settings("demo", TenantSettings(timezone="Europe/Moscow"))
    guardian = Contact(id="g-1", name="Ольга", locale="ru", timezone="Asia/Novosibirsk")
    await store.upsert_contact("demo", guardian)
    await add_delivery(
        store, "demo", "g-1", subject="lesson:l-1", step="reminder-2h", template="lesson_reminder"
    )
    async with signed_in(store, dev_env, "demo") as browser:
        html = (await browser.get("/staff/timeline/lesson/l-1")).text
        sent = row(html, "sent", "reminder-2h")
        assert "2030-03-14 12:00" in sent and "16:00 Asia/Novosibirsk" in sent
        assert "Lesson reminder" in sent


async def test_every_lifecycle_kind_has_a_timeline(
    store: Store, time_env: WorkflowEnvironment, task_queue: str
) -> None:
    async with running_clinic(time_env, store, task_queue) as clinic:
        await store.put_settings(clinic.tenant, TenantSettings(timezone="Europe/Moscow"))
        await clinic.wait_until_local(time(12, 0))
        now = await clinic.now()
        await clinic.post("lesson.scheduled", lesson("l-1", now + timedelta(days=2)))
        await clinic.post("invoice.issued", invoice("i-1", now + timedelta(days=1)))
        await clinic.post("balance.low", balance("acc-1", lessons_left=1))
        await clinic.post("chat.message_sent", chat_message("c-1", "m-1"), settle=False)
        async with signed_in(store, time_env, clinic.tenant) as browser:
            for path, planned in (
                ("lesson/l-1", "Lesson reminder"),
                ("invoice/i-1", "Invoice payment reminder"),
                ("balance/acc-1", "Low balance reminder"),
                ("chat/c-1", "Unread chat message"),
            ):
                answer = await browser.get(f"/staff/timeline/{path}")
                assert answer.status_code == 200, path
                state = answer.text.split('id="lifecycle-status">', 1)[1].split("<", 1)[0]
                assert state and "no longer kept" not in state, path
                assert planned in answer.text, path
