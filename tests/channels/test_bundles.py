"""Messages that go together, counted at the fake Telegram: one reminder to a guardian for two
children's lessons at the same time, and a staff digest instead of one message per booking."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, time, timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from domain.bundles import Bundle
from domain.contacts import Contact
from domain.settings import TenantSettings
from tests.channels.clinic import clinic_with_fakes, local_day
from tests.channels.conftest import Fakes
from tests.factories import appointment, lesson, patient
from tests.fakes import ADDRESSES
from tests.workflows.harness import Clinic, skip


def to_chat(fakes: Fakes, chat: str) -> list[dict[str, Any]]:
    return [request for request in fakes.telegram.sent() if str(request.get("chat_id")) == chat]


@pytest_asyncio.fixture
async def clinic(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> AsyncIterator[Clinic]:
    async with clinic_with_fakes(time_env, fakes, task_queue, tmp_path) as clinic:
        yield clinic


async def bundle_done(clinic: Clinic, bundle: Bundle, seconds: float = 20.0) -> None:
    """Wait (real time) until the bundle's workflow has sent what it held and ended; then stop it
    with the test's other workflows."""
    workflow_id = bundle.workflow_id(clinic.tenant)
    clinic.started.add(workflow_id)
    handle = clinic.env.client.get_workflow_handle(workflow_id)
    deadline = asyncio.get_running_loop().time() + seconds
    while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        assert asyncio.get_running_loop().time() < deadline, "the bundle did not finish"
        await skip(clinic.env, timedelta(seconds=5))


async def test_a_guardian_with_two_lessons_at_the_same_time_gets_one_reminder_naming_both(
    clinic: Clinic, fakes: Fakes
) -> None:
    chat = str(990_000 + next(ADDRESSES))
    guardian = {
        "id": "g-7",
        "name": "Ольга",
        "locale": "ru",
        "timezone": "Europe/Moscow",
        "telegram_chat_id": chat,
    }
    await clinic.store.put_settings(
        clinic.tenant,
        TenantSettings(
            timezone="Europe/Moscow", family_bundle_seconds=20, reminder_offsets=[timedelta(hours=2)]
        ),
    )
    starts_at = await local_day(clinic, 1, time(15, 0))
    for lesson_id, child in (("l-1", "Маша"), ("l-2", "Петя")):
        student = {"id": f"s-{lesson_id}", "name": child, "locale": "ru", "timezone": "Europe/Moscow"}
        await clinic.post(
            "lesson.scheduled", lesson(lesson_id, starts_at, student=student, guardian=guardian)
        )
    reminder_at = starts_at - timedelta(hours=2)
    await clinic.advance_to(reminder_at, "lesson:l-1")
    await clinic.settle("lesson:l-2")
    key = f"family:g-7:lesson_reminder:{reminder_at.astimezone(UTC).isoformat()}"
    await bundle_done(clinic, Bundle("family", key, timedelta(seconds=20)))

    got = to_chat(fakes, chat)
    assert len(got) == 1, [request["payload"].get("text") for request in got]
    text = got[0]["payload"]["text"]
    assert "Маша" in text and "Петя" in text and "{{" not in text
    # The delivery log: each lesson's reminder says which delivery carried it.
    for ref in ("lesson:l-1", "lesson:l-2"):
        row = next(
            r for r in await clinic.deliveries(ref) if r.step.endswith("/guardian") and "reminder" in r.step
        )
        assert row.status.value == "skipped" and "sent together in delivery #" in (row.reason or "")


async def test_one_guardian_reminder_alone_goes_as_itself(clinic: Clinic, fakes: Fakes) -> None:
    chat = str(990_000 + next(ADDRESSES))
    guardian = {
        "id": "g-8",
        "name": "Ольга",
        "locale": "ru",
        "timezone": "Europe/Moscow",
        "telegram_chat_id": chat,
    }
    await clinic.store.put_settings(
        clinic.tenant,
        TenantSettings(
            timezone="Europe/Moscow", family_bundle_seconds=20, reminder_offsets=[timedelta(hours=2)]
        ),
    )
    starts_at = await local_day(clinic, 1, time(15, 0))
    await clinic.post("lesson.scheduled", lesson("l-3", starts_at, guardian=guardian))
    reminder_at = starts_at - timedelta(hours=2)
    await clinic.advance_to(reminder_at, "lesson:l-3")
    key = f"family:g-8:lesson_reminder:{reminder_at.astimezone(UTC).isoformat()}"
    await bundle_done(clinic, Bundle("family", key, timedelta(seconds=20)))

    got = to_chat(fakes, chat)
    assert len(got) == 1
    row = next(
        r
        for r in await clinic.deliveries("lesson:l-3")
        if r.step.endswith("/guardian") and "reminder" in r.step
    )
    assert row.status.value == "sent"
    assert "Петя" not in got[0]["payload"]["text"]


async def test_staff_get_one_digest_for_three_bookings(clinic: Clinic, fakes: Fakes) -> None:
    chat = str(990_000 + next(ADDRESSES))
    admin = Contact(id="admin-9", name="Мария", locale="ru", timezone="Europe/Moscow", telegram_chat_id=chat)
    await clinic.store.put_settings(
        clinic.tenant,
        TenantSettings(timezone="Europe/Moscow", staff_recipients=[admin], staff_digest_minutes=10),
    )
    starts_at = await local_day(clinic, 5, time(11, 0))
    for n in range(3):
        await clinic.post(
            "appointment.requested",
            appointment(
                f"d-{n}", starts_at + timedelta(hours=n), patient=patient(id=f"p-{n}", name=f"Пациент {n}")
            ),
        )
    await skip(clinic.env, timedelta(minutes=11))
    await bundle_done(clinic, Bundle("staff", "staff:admin-9", timedelta(minutes=10)))

    got = to_chat(fakes, chat)
    assert len(got) == 1, [request["payload"].get("text") for request in got]
    assert all(f"Пациент {n}" in got[0]["payload"]["text"] for n in range(3))
