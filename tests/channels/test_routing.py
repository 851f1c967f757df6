"""The router on the time-skipping server: cheapest reachable channel, fallback, dead addresses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time, timedelta
from pathlib import Path

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from domain.contacts import Contact
from tests.channels.clinic import clinic_with_fakes, local_day
from tests.channels.conftest import Fakes
from tests.factories import appointment, patient
from tests.fakes import ADDRESSES
from tests.workflows.harness import Clinic, skip

_n = ADDRESSES  # shared by every module: the fakes live for the whole session


def numbers() -> tuple[str, str]:
    """A fresh Telegram chat id and Moscow mobile number per patient: the fakes live all session."""
    n = next(_n) + 5000
    return str(880000 + n), f"+7925{n:07d}"


@pytest_asyncio.fixture
async def clinic(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> AsyncIterator[Clinic]:
    async with clinic_with_fakes(time_env, fakes, task_queue, tmp_path) as clinic:
        yield clinic


async def test_telegram_linked_patient_gets_telegram(clinic: Clinic, fakes: Fakes) -> None:
    chat, phone = numbers()
    starts_at = await local_day(clinic, 3, time(14, 0))
    await clinic.post(
        "appointment.confirmed",
        appointment("r-1", starts_at, patient=patient(phone=phone, telegram_chat_id=chat, whatsapp=True)),
    )
    [row] = await clinic.deliveries("r-1")
    assert (row.status, row.channel, row.provider) == ("sent", "telegram", "telegram")
    assert [r["answer"] for r in fakes.telegram.requests if r.get("chat_id") == chat] == ["ok"]


async def test_blocked_bot_falls_back_to_whatsapp_then_sms_and_the_chat_is_marked_dead(
    clinic: Clinic, fakes: Fakes
) -> None:
    chat, phone = numbers()
    fakes.telegram.plan(chat, "blocked")
    fakes.whatsapp.plan(phone, "not_on_whatsapp")
    starts_at = await local_day(clinic, 3, time(14, 0))
    person = patient(id=f"p-{chat}", phone=phone, telegram_chat_id=chat, whatsapp=True)
    await clinic.post("appointment.confirmed", appointment("r-2", starts_at, patient=person))

    [row] = await clinic.deliveries("r-2")
    assert (row.status, row.channel, row.provider) == ("sent", "sms", "smsaero")
    attempts = await clinic.store.list_attempts(row.id)
    assert [(a.channel, a.provider, a.status) for a in attempts] == [
        ("telegram", "telegram", "failed"), ("whatsapp", "whatsapp", "failed"), ("sms", "smsaero", "sent"),
    ]  # fmt: skip
    assert attempts[-1].provider_message_id and attempts[-1].cost == 5.49
    learned = await clinic.store.contact_for_sending(clinic.tenant, Contact(id=person["id"]))
    assert f"telegram:{chat}" in learned.dead_addresses and f"whatsapp:{phone}" in learned.dead_addresses

    # The next message goes straight to SMS: the dead chat is not tried again.
    await clinic.advance_to(starts_at - timedelta(hours=23), "r-2")
    assert (await clinic.deliveries("r-2"))[-1].channel == "sms"
    assert len([r for r in fakes.telegram.requests if r.get("chat_id") == chat]) == 1


async def test_whatsapp_outside_the_window_uses_the_approved_template(clinic: Clinic, fakes: Fakes) -> None:
    _, phone = numbers()
    starts_at = await local_day(clinic, 3, time(14, 0))
    await clinic.post(
        "appointment.confirmed", appointment("r-3", starts_at, patient=patient(phone=phone, whatsapp=True))
    )
    [row] = await clinic.deliveries("r-3")
    assert (row.channel, row.provider) == ("whatsapp", "whatsapp")
    [request] = [r for r in fakes.whatsapp.requests if r["to"] == phone]
    assert request["type"] == "template" and request["payload"]["template"]["name"] == "appointment_confirmed"


async def test_sms_goes_to_sms_aero_for_plus_7_and_rocketsms_for_plus_375(clinic: Clinic) -> None:
    starts_at = await local_day(clinic, 3, time(14, 0))
    await clinic.post(
        "appointment.confirmed", appointment("r-4", starts_at, patient=patient(id="ru", phone="+79161230001"))
    )
    await clinic.post(
        "appointment.confirmed",
        appointment("r-5", starts_at, patient=patient(id="by", phone="+375291230001")),
    )
    await clinic.post(
        "appointment.confirmed",
        appointment("r-6", starts_at, patient=patient(id="uk", phone="+447700900123")),
    )
    providers = [(await clinic.deliveries(ref))[0].provider for ref in ("r-4", "r-5", "r-6")]
    assert providers == ["smsaero", "rocketsms", "twilio"]


async def test_an_opted_out_sms_channel_is_never_used(clinic: Clinic, fakes: Fakes) -> None:
    _, phone = numbers()
    person = patient(phone=phone, email=f"{phone[1:]}@mail.example", opted_out=["sms"])
    starts_at = await local_day(clinic, 3, time(14, 0))
    await clinic.post("appointment.confirmed", appointment("r-7", starts_at, patient=person))
    await clinic.advance_to(starts_at - timedelta(hours=1), "r-7")
    rows = await clinic.deliveries("r-7")
    assert {row.channel for row in rows} == {"email"} and len(rows) == 3
    assert not [r for r in fakes.smsaero.requests if r["number"] == phone.lstrip("+")]


async def test_an_outage_longer_than_the_lead_time_skips_the_reminder_with_the_reason(
    clinic: Clinic, fakes: Fakes
) -> None:
    _, phone = numbers()
    number = phone.lstrip("+")
    starts_at = await local_day(clinic, 3, time(14, 0))
    await clinic.post("appointment.confirmed", appointment("r-8", starts_at, patient=patient(phone=phone)))
    await clinic.advance_to(starts_at - timedelta(hours=24, minutes=5), "r-8")
    fakes.smsaero.plan(number, *["server_error"] * 10_000)
    try:
        # Retries back off up to a minute; the reminder's moment (1 h of lateness) passes meanwhile.
        await skip(clinic.env, timedelta(hours=1, minutes=20))
    finally:
        fakes.smsaero.script[number].clear()
    await clinic.settle("r-8")
    reminder = next(r for r in await clinic.deliveries("r-8") if r.step.startswith("reminder-24h"))
    assert reminder.status == "skipped"
    assert reminder.reason and "expired" in reminder.reason and "sms unavailable" in reminder.reason
    sent = [r for r in fakes.smsaero.requests if r["number"] == number and r["answer"] == "ok"]
    assert len(sent) == 1  # the confirmation only: no late reminder
    retried = [r for r in fakes.smsaero.requests if r["number"] == number and r["answer"] == "server_error"]
    assert len(retried) >= 3
