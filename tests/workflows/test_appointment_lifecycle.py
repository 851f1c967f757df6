"""The appointment lifecycle on the time-skipping server, with the real activities and store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from domain.contacts import Contact
from domain.settings import TenantSettings
from store import Store
from tests.factories import appointment
from tests.workflows.harness import Clinic, running_clinic

MOSCOW = ZoneInfo("Europe/Moscow")
STAFF = Contact(id="staff-1", name="Ольга", locale="ru", timezone="Europe/Moscow", email="desk@clinic.example")


@pytest_asyncio.fixture
async def clinic(time_env: WorkflowEnvironment, store: Store, task_queue: str) -> AsyncIterator[Clinic]:
    await store.put_settings("demo", TenantSettings(timezone="Europe/Moscow", staff_recipients=[STAFF]))
    async with running_clinic(time_env, store, task_queue) as clinic:
        await clinic.wait_until_local(time(12, 0))  # noon in Moscow: outside quiet hours
        yield clinic


async def local_day(clinic: Clinic, days: int, at: time, tz: ZoneInfo = MOSCOW) -> datetime:
    today = (await clinic.now()).astimezone(tz).date()
    return datetime.combine(today + timedelta(days=days), at, tzinfo=tz)


async def test_confirmed_appointment_gets_confirmation_with_ics_then_two_reminders(clinic: Clinic) -> None:
    starts_at = await local_day(clinic, 3, time(14, 0))
    await clinic.post("appointment.confirmed", appointment("a-1", starts_at))

    [confirmation] = await clinic.deliveries("a-1")
    assert confirmation.step == "confirmed" and confirmation.status == "sent"
    assert confirmation.template == "appointment_confirmed" and confirmation.channel == "sms"
    invite = icalendar.Calendar.from_ical(confirmation.attachments[0].content)
    [vevent] = invite.walk("VEVENT")
    assert vevent.decoded("DTSTART").astimezone(UTC) == starts_at.astimezone(UTC)
    assert "{{" not in (confirmation.body or "")

    await clinic.advance_to(starts_at - timedelta(hours=24, minutes=1), "a-1")
    assert await clinic.steps("a-1") == ["confirmed"]
    await clinic.advance_to(starts_at - timedelta(hours=23), "a-1")
    assert await clinic.steps("a-1", "sent") == ["confirmed", "reminder-24h-v0"]
    await clinic.advance_to(starts_at - timedelta(hours=1), "a-1")
    rows = await clinic.deliveries("a-1")
    assert [r.step for r in rows] == ["confirmed", "reminder-24h-v0", "reminder-2h-v0"]
    assert rows[1].scheduled_for == starts_at - timedelta(hours=24)
    assert rows[2].scheduled_for == starts_at - timedelta(hours=2)
    assert "14:00" in (rows[2].body or "")
