"""A published template that fails at send time: the default text goes out whole, staff see the error."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import Settings
from domain.settings import TenantSettings
from store import Store
from store.staff import Role
from tests.factories import appointment
from tests.staff.server import PASSWORD, staff_user
from tests.workflows.harness import running_clinic

MOSCOW = ZoneInfo("Europe/Moscow")


async def test_a_failing_published_version_falls_back_to_the_file_and_is_recorded(
    time_env: WorkflowEnvironment, store: Store, task_queue: str
) -> None:
    async with running_clinic(time_env, store, task_queue) as clinic:
        await store.put_settings(clinic.tenant, TenantSettings(timezone="Europe/Moscow"))
        # Valid with the editor's sample data, but real contexts have no `insurance`: it fails at send.
        broken = await store.save_template_draft(
            clinic.tenant,
            "appointment_confirmed",
            "ru",
            "sms",
            {"body": "Полис: {{ appointment.insurance.number }}"},
            "ed@clinic.example",
        )
        await store.publish_template(clinic.tenant, broken.id, "pub@clinic.example")
        await clinic.wait_until_local(time(12, 0))
        today = (await clinic.now()).astimezone(MOSCOW).date()
        starts_at = datetime.combine(today + timedelta(days=3), time(14, 0), tzinfo=MOSCOW)

        await clinic.post("appointment.confirmed", appointment("a-1", starts_at))

        [confirmation] = await clinic.deliveries("a-1")
        assert confirmation.status == "sent" and confirmation.body is not None
        assert "Полис" not in confirmation.body and "14:00" in confirmation.body
        assert confirmation.reason is not None and "sent the default text instead" in confirmation.reason
        [error] = await store.template_errors(clinic.tenant)
        assert (error.key, error.locale, error.channel, error.version_id) == (
            "appointment_confirmed",
            "ru",
            "sms",
            broken.id,
        )
        assert error.delivery_id == confirmation.id and "insurance" in error.error

        email = await staff_user(store, clinic.tenant, Role.EDITOR)
        app = create_app(Settings(database_url="sqlite://"), store=store, temporal=time_env.client)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://staff") as browser:
                login = await browser.get("/staff/login")
                token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
                assert token is not None
                form = {"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
                await browser.post("/staff/login", data=form)
                page = await browser.get("/staff/errors")
        assert page.status_code == 200 and "insurance" in page.text and str(confirmation.id) in page.text


async def test_a_delivery_records_the_published_version_it_went_out_with(
    time_env: WorkflowEnvironment, store: Store, task_queue: str
) -> None:
    async with running_clinic(time_env, store, task_queue) as clinic:
        await store.put_settings(clinic.tenant, TenantSettings(timezone="Europe/Moscow"))
        draft = await store.save_template_draft(
            clinic.tenant,
            "appointment_confirmed",
            "ru",
            "sms",
            {"body": "Ждём вас {{ appointment.starts_at | datetime }}."},
            "ed@clinic.example",
        )
        live = await store.publish_template(clinic.tenant, draft.id, "pub@clinic.example")
        await clinic.wait_until_local(time(12, 0))
        today = (await clinic.now()).astimezone(MOSCOW).date()
        starts_at = datetime.combine(today + timedelta(days=3), time(14, 0), tzinfo=MOSCOW)
        await clinic.post("appointment.confirmed", appointment("a-2", starts_at))
        [confirmation] = await clinic.deliveries("a-2")
        assert confirmation.status == "sent" and (confirmation.body or "").startswith("Ждём вас")
        assert confirmation.template_version_id == live.id
