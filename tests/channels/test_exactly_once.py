"""Exactly once, never stale, never lost: each window of the send path, counted at the fake provider.

A duplicate is two messages the fake provider took, not two rows in our store; a message in doubt is
recorded `unknown` and staff are told, never silently sent again.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from domain.contacts import Contact
from domain.settings import TenantSettings
from tests.channels.clinic import clinic_with_fakes, local_day
from tests.channels.conftest import Fakes
from tests.factories import appointment, balance, chat_message, invoice, patient, payer
from tests.fakes.server import FakeProvider
from tests.workflows.harness import Clinic, skip

# The fakes live for the whole session: every test reaches them at numbers of its own.
_numbers = itertools.count(100)


def us_phone() -> str:
    """A number Twilio carries (no cheaper local gateway)."""
    return f"+1202555{next(_numbers):04d}"


def ru_phone() -> str:
    """A number SMS Aero carries."""
    return f"+7916555{next(_numbers):04d}"


def chat_id() -> str:
    return str(700_000 + next(_numbers))


def taken(fake: FakeProvider, key: str, value: str) -> list[dict[str, Any]]:
    """What the provider took for this recipient: what the recipient got."""
    return [request for request in fake.sent() if request.get(key) == value]


@pytest_asyncio.fixture
async def clinic(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> AsyncIterator[Clinic]:
    async with clinic_with_fakes(time_env, fakes, task_queue, tmp_path) as clinic:
        yield clinic


async def with_staff(clinic: Clinic, staff_chat: str) -> None:
    admin = Contact(
        id="admin-1", name="Администратор", locale="ru", timezone="Europe/Moscow", telegram_chat_id=staff_chat
    )
    await clinic.store.put_settings(
        clinic.tenant, TenantSettings(timezone="Europe/Moscow", staff_recipients=[admin])
    )


async def settle_later(clinic: Clinic, ref: str, seconds: float = 20.0) -> None:
    """Settle a lifecycle whose sends are still retrying for a few real seconds."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            await clinic.settle(ref, patience=2.0)
            return
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise


async def test_provider_that_took_the_message_but_answered_too_late_gets_it_once(
    clinic: Clinic, fakes: Fakes
) -> None:
    # Given Twilio takes the confirmation and answers after our client gave up
    phone = us_phone()
    fakes.twilio.plan(phone, "accept_hang")
    starts_at = await local_day(clinic, 3, time(14, 0))
    # When the appointment is confirmed
    await clinic.post(
        "appointment.confirmed", appointment("t-1", starts_at, patient=patient(id="t-1", phone=phone))
    )
    await settle_later(clinic, "t-1")
    # Then the retry asked Twilio instead of sending again: one SMS, recorded sent
    assert len(taken(fakes.twilio, "to", phone)) == 1
    [confirmation] = [
        row for row in await clinic.deliveries("t-1") if row.template == "appointment_confirmed"
    ]
    assert confirmation.status == "sent"
    assert confirmation.provider_message_id and confirmation.provider_message_id.startswith("SM")


async def test_an_attempt_cut_by_its_own_budget_is_asked_about_not_repeated(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> None:
    # Given a worker whose provider call budget is shorter than Twilio's answer, which comes late
    async with clinic_with_fakes(
        time_env, fakes, task_queue, tmp_path, call_budget=timedelta(seconds=0.2)
    ) as clinic:
        phone = us_phone()
        fakes.twilio.plan(phone, "accept_hang")
        starts_at = await local_day(clinic, 3, time(14, 0))
        await clinic.post(
            "appointment.confirmed", appointment("t-0", starts_at, patient=patient(id="t-0", phone=phone))
        )
        await settle_later(clinic, "t-0")
        # Then the cut attempt was left in doubt, the retry asked Twilio: one SMS
        assert len(taken(fakes.twilio, "to", phone)) == 1
        [row] = [r for r in await clinic.deliveries("t-0") if r.template == "appointment_confirmed"]
        attempts = await clinic.store.list_attempts(row.id)
        assert row.status == "sent" and any("no answer within" in (a.reason or "") for a in attempts)


async def test_provider_that_took_the_message_behind_a_502_gets_it_once(clinic: Clinic, fakes: Fakes) -> None:
    # Given SMS Aero takes the message and a proxy in front of it answers 502
    phone = ru_phone()
    fakes.smsaero.plan(phone[1:], "accept_502")
    starts_at = await local_day(clinic, 3, time(14, 0))
    await clinic.post(
        "appointment.confirmed", appointment("t-2", starts_at, patient=patient(id="t-2", phone=phone))
    )
    await settle_later(clinic, "t-2")
    # Then SMS Aero's list said it has it: one SMS
    assert len(taken(fakes.smsaero, "number", phone[1:])) == 1
    [confirmation] = [
        row for row in await clinic.deliveries("t-2") if row.template == "appointment_confirmed"
    ]
    assert confirmation.status == "sent"


async def test_provider_that_cannot_be_asked_records_unknown_and_tells_staff(
    clinic: Clinic, fakes: Fakes
) -> None:
    # Given a patient on Telegram, whose Bot API has no way to ask whether a message went out
    patient_chat, staff_chat = chat_id(), chat_id()
    await with_staff(clinic, staff_chat)
    fakes.telegram.plan(patient_chat, "accept_hang")
    starts_at = await local_day(clinic, 3, time(14, 0))
    anna = patient(id="t-3", phone=ru_phone(), telegram_chat_id=patient_chat)
    # When Telegram takes the confirmation but answers too late
    await clinic.post("appointment.confirmed", appointment("t-3", starts_at, patient=anna))
    await settle_later(clinic, "t-3")
    # Then it is not sent again, on Telegram or elsewhere: it is `unknown`, and staff hear of it once
    assert len(taken(fakes.telegram, "chat_id", patient_chat)) == 1
    assert taken(fakes.smsaero, "number", anna["phone"][1:]) == []
    rows = {row.step: row for row in await clinic.deliveries("t-3")}
    [confirmation] = [row for row in rows.values() if row.template == "appointment_confirmed"]
    assert confirmation.status == "unknown"
    alerts = taken(fakes.telegram, "chat_id", staff_chat)
    assert len(alerts) == 1
    assert rows[f"{confirmation.step}/failed/admin-1"].status == "sent"


async def test_cancellation_during_a_provider_outage_sends_no_stale_reminder(
    clinic: Clinic, fakes: Fakes
) -> None:
    phone = us_phone()
    starts_at = await local_day(clinic, 3, time(14, 0))
    await clinic.post(
        "appointment.confirmed", appointment("t-4", starts_at, patient=patient(id="t-4", phone=phone))
    )
    assert len(taken(fakes.twilio, "to", phone)) == 1  # the confirmation
    await clinic.advance_to(starts_at - timedelta(hours=24, minutes=1), "t-4")
    # Given the reminder falls due while Twilio is down, and keeps retrying
    fakes.twilio.plan(phone, *["unavailable"] * 1000)
    await skip(clinic.env, timedelta(minutes=10))
    # When the appointment is cancelled meanwhile
    await clinic.post(
        "appointment.cancelled", {"appointment_id": "t-4", "cancelled_by": "clinic"}, settle=False
    )
    await asyncio.sleep(3)
    fakes.twilio.script.pop(phone, None)  # Twilio is back
    await skip(clinic.env, timedelta(minutes=5))
    await settle_later(clinic, "t-4")
    # Then the reminder never goes; the cancellation notice does
    rows = await clinic.deliveries("t-4")
    [reminder] = [row for row in rows if row.template == "visit_reminder"]
    assert reminder.status == "skipped" and "no longer wanted" in (reminder.reason or "")
    sent = [row for row in rows if row.status == "sent"]
    assert [row.template for row in sent] == ["appointment_confirmed", "appointment_cancelled"]
    assert len(taken(fakes.twilio, "to", phone)) == len(sent)


async def test_reschedule_during_a_provider_outage_sends_no_reminder_for_the_old_time(
    clinic: Clinic, fakes: Fakes
) -> None:
    phone = ru_phone()
    starts_at = await local_day(clinic, 3, time(14, 0))
    await clinic.post(
        "appointment.confirmed", appointment("t-5", starts_at, patient=patient(id="t-5", phone=phone))
    )
    await clinic.advance_to(starts_at - timedelta(hours=24, minutes=1), "t-5")
    fakes.smsaero.plan(phone[1:], *["unavailable"] * 1000)
    await skip(clinic.env, timedelta(minutes=10))
    moved_to = starts_at + timedelta(days=7)
    await clinic.post(
        "appointment.rescheduled",
        {"appointment_id": "t-5", "starts_at": moved_to.isoformat(), "duration_minutes": 30},
        settle=False,
    )
    await asyncio.sleep(3)
    fakes.smsaero.script.pop(phone[1:], None)
    await skip(clinic.env, timedelta(minutes=5))
    await settle_later(clinic, "t-5")
    rows = await clinic.deliveries("t-5")
    stale = [row for row in rows if row.step.startswith("reminder-24h-v0")]
    assert [row.status for row in stale] == ["skipped"]
    texts = [request["payload"]["text"] for request in taken(fakes.smsaero, "number", phone[1:])]
    assert len(texts) == len([row for row in rows if row.status == "sent"])
    # And the reminder for the new time still comes
    await clinic.advance_to(moved_to - timedelta(hours=23), "t-5")
    fresh = [row for row in await clinic.deliveries("t-5") if row.step.startswith("reminder-24h-v1")]
    assert [row.status for row in fresh] == ["sent"]


async def test_a_second_low_balance_episode_nudges_the_payer_again(clinic: Clinic, fakes: Fakes) -> None:
    phone = ru_phone()
    data = balance("acc-1") | {"contact": payer(id="payer-e", phone=phone)}
    await clinic.post("balance.low", data)
    await clinic.advance(timedelta(hours=1), "balance:acc-1")
    assert len(taken(fakes.smsaero, "number", phone[1:])) == 1
    await clinic.post("balance.topped_up", data)
    # After the top-up the episode ends; the balance runs low again later
    await clinic.advance(timedelta(days=10), "balance:acc-1")
    await clinic.post("balance.low", data)
    await clinic.advance(timedelta(hours=1), "balance:acc-1")
    assert len(taken(fakes.smsaero, "number", phone[1:])) == 2


async def test_an_invoice_paid_before_it_was_issued_is_never_nudged(clinic: Clinic, fakes: Fakes) -> None:
    phone = ru_phone()
    due = await clinic.now() + timedelta(days=1)
    data = invoice("inv-1", due) | {"contact": payer(id="payer-i", phone=phone)}
    # `paid` overtakes `issued`
    await clinic.post("invoice.paid", data, sequence=2)
    await clinic.post("invoice.issued", data, sequence=1)
    await clinic.advance(timedelta(days=10), "invoice:inv-1")
    assert taken(fakes.smsaero, "number", phone[1:]) == []
    assert await clinic.steps("invoice:inv-1", "sent") == []


async def test_a_chat_message_redelivered_after_continue_as_new_does_not_escalate_again(
    clinic: Clinic, fakes: Fakes
) -> None:
    token = f"fcm-token-{next(_numbers)}"

    def message(message_id: str) -> dict[str, Any]:
        data = chat_message("c-r", message_id)
        data["contact"]["push_tokens"] = [token]
        return data

    clinic.history_limit = 40
    await clinic.post("chat.message_sent", message("m-1"), event_id="sent-m-1")
    await clinic.advance(timedelta(seconds=6), "chat:c-r")
    await clinic.post("chat.message_read", message("m-1"), event_id="read-m-1")
    for n in range(2, 16):
        await clinic.post("chat.message_sent", message(f"m-{n}"), settle=False)
        await clinic.post("chat.message_read", message(f"m-{n}"), settle=False)
    await asyncio.sleep(2)
    pushes = len([r for r in fakes.fcm.sent() if r.get("token") == token])
    assert pushes == 1
    # When the backend redelivers the first message after the conversation continued as new
    await clinic.post("chat.message_sent", message("m-1"), event_id="sent-m-1")
    await clinic.advance(timedelta(minutes=20), "chat:c-r")
    history = await clinic.env.client.get_workflow_handle(clinic.workflow_id("chat:c-r")).fetch_history()
    assert history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
    # Then nobody is pushed or texted about it again
    assert len([r for r in fakes.fcm.sent() if r.get("token") == token]) == 1


async def test_a_staff_alert_whose_first_attempt_fails_is_still_sent(clinic: Clinic, fakes: Fakes) -> None:
    staff_chat = chat_id()
    await with_staff(clinic, staff_chat)
    # Given the patient's only number is dead, and Telegram holds the staff alert back at first
    phone = us_phone()
    fakes.twilio.plan(phone, "invalid_number")
    fakes.telegram.plan(staff_chat, "flood")
    starts_at = await local_day(clinic, 3, time(14, 0))
    await clinic.post(
        "appointment.confirmed", appointment("t-6", starts_at, patient=patient(id="t-6", phone=phone))
    )
    for _ in range(3):  # past Telegram's "retry after 3", once the workflow has set its timer
        await asyncio.sleep(0.5)
        await skip(clinic.env, timedelta(seconds=10))
    await settle_later(clinic, "t-6")
    # Then staff get the alert once, after Telegram's pause
    rows = {row.step: row for row in await clinic.deliveries("t-6")}
    [confirmation] = [row for row in rows.values() if row.template == "appointment_confirmed"]
    assert confirmation.status == "failed"
    alert = rows[f"{confirmation.step}/failed/admin-1"]
    assert alert.status == "sent"
    assert len(taken(fakes.telegram, "chat_id", staff_chat)) == 1


async def test_an_earlier_message_with_the_same_text_is_not_taken_for_the_one_in_doubt(
    clinic: Clinic, fakes: Fakes
) -> None:
    # Given two children's visits at the same time, both confirmed to their parent's phone
    phone = us_phone()
    starts_at = await local_day(clinic, 3, time(14, 0))
    fakes.twilio.plan(phone, "ok", "server_error")  # the second one is in doubt (a 500)
    for ref in ("s-1", "s-2"):
        await clinic.post(
            "appointment.confirmed", appointment(ref, starts_at, patient=patient(id=ref, phone=phone))
        )
        await settle_later(clinic, ref)
    # Then the first confirmation's SMS was not mistaken for the second's: Twilio has two
    first, second = [(await clinic.deliveries(ref))[0] for ref in ("s-1", "s-2")]
    assert first.status == second.status == "sent"
    assert first.provider_message_id != second.provider_message_id
    assert len(taken(fakes.twilio, "to", phone)) == 2
