"""The cadence across lifecycles on the time-skipping server, counted at the fake Telegram."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time, timedelta
from pathlib import Path

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from domain.cadence import CadencePolicy, CadenceRule
from domain.settings import TenantSettings
from tests.channels.clinic import MOSCOW, clinic_with_fakes, local_day
from tests.channels.conftest import Fakes
from tests.factories import appointment, invoice, lesson
from tests.fakes import ADDRESSES
from tests.workflows.harness import Clinic, skip

_n = ADDRESSES  # shared by every module: the fakes live for the whole session


@pytest_asyncio.fixture
async def clinic(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> AsyncIterator[Clinic]:
    async with clinic_with_fakes(time_env, fakes, task_queue, tmp_path) as clinic:
        # One reminder, two hours before: every message of the test falls on the same day.
        settings = TenantSettings(timezone="Europe/Moscow", reminder_offsets=[timedelta(hours=2)])
        await clinic.store.put_settings(clinic.tenant, settings)
        yield clinic


async def test_a_busy_day_gets_what_the_cadence_allows_the_rest_recorded_with_a_reason(
    clinic: Clinic, fakes: Fakes
) -> None:
    n = next(_n)
    chat = str(990000 + n)
    anna = {
        "id": f"p-{n}",
        "name": "Анна",
        "locale": "ru",
        "timezone": "Europe/Moscow",
        "telegram_chat_id": chat,
    }
    tomorrow = (await local_day(clinic, 1, time(0, 0))).date().isoformat()
    # Tomorrow: an invoice nudge at 10:00, a visit reminder at 13:00, a lesson reminder at 15:00 (all
    # reminders or billing: three a day by default), then a recall-like invitation at 16:00 (a one-off
    # in the reminders category), and the order's status at 18:00 (transactional).
    await clinic.post("invoice.issued", invoice("i-1", await local_day(clinic, 1, time(10, 0)), contact=anna))
    await clinic.post(
        "appointment.confirmed", appointment("a-1", await local_day(clinic, 1, time(15, 0)), patient=anna)
    )
    await clinic.post(
        "lesson.scheduled",
        lesson("l-1", await local_day(clinic, 1, time(17, 0)), student=anna, guardian=None),
    )
    for nid, template, category, at in [
        ("recall-1", "manager_note", "reminders", "16:00"),
        ("order-1", "order_status", "transactional", "18:00"),
    ]:
        data = {"order_id": "10482", "status": "shipped", "note": "Пора на профилактический осмотр."}
        await clinic.post(
            "notification.requested",
            {
                "notification_id": nid,
                "contact": anna,
                "template": template,
                "data": data,
                "send_at": f"{tomorrow}T{at}:00",
                "category": category,
            },
        )
    await skip(clinic.env, (await local_day(clinic, 1, time(19, 0))) - await clinic.now())
    refs = ["invoice:i-1", "a-1", "lesson:l-1", "notification:recall-1", "notification:order-1"]
    rows = []
    for ref in refs:
        await clinic.settle(ref)
        rows += await clinic.deliveries(ref)

    sent = [
        (row.scheduled_for.astimezone(MOSCOW).strftime("%H:%M"), row.template)
        for row in sorted(rows, key=lambda row: row.scheduled_for)
        if row.status.value == "sent"
    ]
    assert sent[1:] == [
        ("10:00", "payment_nudge"),
        ("13:00", "visit_reminder"),
        ("15:00", "lesson_reminder"),
        ("18:00", "order_status"),
    ]
    assert sent[0][1] == "appointment_confirmed"  # transactional, today
    [held] = [row for row in rows if row.status.value == "skipped"]
    assert held.template == "manager_note"
    assert held.reason == (
        "cadence: 3 reminders and billing messages to this recipient in the last day, at most 3"
    )
    texts = [r for r in fakes.telegram.requests if r.get("chat_id") == chat]
    assert len(texts) == 5  # counted at the provider: the held one never left


async def test_over_a_deferring_cap_a_message_waits_for_the_window_then_goes(
    clinic: Clinic, fakes: Fakes
) -> None:
    n = next(_n)
    chat = str(990000 + n)
    settings = await clinic.store.get_settings(clinic.tenant)
    settings.cadence = CadencePolicy(
        rules=[CadenceRule(categories=["marketing"], limit=1, window=timedelta(hours=6), over_cap="defer")]
    )
    await clinic.store.put_settings(clinic.tenant, settings)
    bob = {
        "id": f"p-{n}",
        "name": "Борис",
        "locale": "ru",
        "timezone": "Europe/Moscow",
        "telegram_chat_id": chat,
    }
    first_at = await clinic.now()

    def offer(nid: str) -> dict[str, object]:
        note = {"note": "Скидка 10% на отбеливание до конца месяца."}
        return {
            "notification_id": nid,
            "contact": bob,
            "template": "manager_note",
            "data": note,
            "category": "marketing",
        }

    await clinic.post("notification.requested", offer("promo-1"))
    await clinic.advance(timedelta(hours=1), "notification:promo-1")
    await clinic.post("notification.requested", offer("promo-2"), settle=False)
    await skip(clinic.env, timedelta(minutes=1))
    [waiting] = await clinic.deliveries("notification:promo-2")
    assert waiting.status.value == "planned" and "deferred to" in (waiting.reason or "")
    assert len([r for r in fakes.telegram.requests if r.get("chat_id") == chat]) == 1

    await skip(clinic.env, first_at + timedelta(hours=6, minutes=5) - await clinic.now())
    await clinic.settle("notification:promo-2")
    [went] = await clinic.deliveries("notification:promo-2")
    assert went.status.value == "sent"
    assert len([r for r in fakes.telegram.requests if r.get("chat_id") == chat]) == 2
