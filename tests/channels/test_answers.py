"""Patients answer by SMS and WhatsApp text: over real HTTP, counted at the fake providers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities.models import AnswerInput
from api.answers import answer_draft
from api.app import create_app
from config import Settings
from domain.contacts import Channel, Contact
from domain.deliveries import Delivery, DeliveryStatus
from domain.routing import channel_order
from domain.settings import TenantSettings
from tests.channels.clinic import clinic_with_fakes, local_day
from tests.channels.conftest import Fakes
from tests.channels.test_inbound import Desk
from tests.factories import appointment, patient
from tests.fakes import ADDRESSES, telegram, twilio, whatsapp
from tests.ports import free_port
from tests.workflows.harness import skip
from workflows.answer import AnswerWorkflow
from workflows.answer import workflow_id as answer_workflow_id

URL = "http://nudgeflow/v1/inbound/twilio"
_n = ADDRESSES  # shared by every module: the fakes live for the whole session


@asynccontextmanager
async def open_desk(
    env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path, **worker_options: Any
) -> AsyncIterator[Desk]:
    """A clinic on the time-skipping server and the API its providers call back (as in test_inbound)."""
    async with clinic_with_fakes(env, fakes, task_queue, tmp_path, **worker_options) as clinic:
        app = create_app(Settings(task_queue=task_queue), store=clinic.store, temporal=env.client)
        app.state.channels = fakes.config(public_base_url="http://nudgeflow")
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://nudgeflow") as api:
                yield Desk(clinic, api, app)


@pytest_asyncio.fixture
async def desk(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> AsyncIterator[Desk]:
    async with open_desk(time_env, fakes, task_queue, tmp_path) as opened:
        yield opened


def phone() -> str:
    return f"+4477009{next(_n) + 31000:05d}"


async def reminded(desk: Desk, ref: str, person: dict[str, Any]) -> datetime:
    """The patient (stored, as the API stores them) is sent the 24-hour reminder."""
    await desk.clinic.store.upsert_contact(desk.clinic.tenant, Contact.model_validate(person))
    starts_at = await local_day(desk.clinic, 3, time(14, 0))
    await desk.clinic.post("appointment.confirmed", appointment(ref, starts_at, patient=person))
    await desk.clinic.advance_to(starts_at - timedelta(hours=23), ref)
    return starts_at


async def text(desk: Desk, fakes: Fakes, sender: str, body: str, token: str | None = None) -> httpx.Response:
    sid = f"SM{next(_n):032x}"
    form, signature = twilio.incoming_message(URL, sender, body, token or fakes.twilio.auth_token, sid)
    return await desk.api.post("/v1/inbound/twilio", data=form, headers=signature)


def key(desk: Desk) -> dict[str, str]:
    return {"Authorization": f"Bearer key-{desk.clinic.tenant}"}


def sms_to(fakes: Fakes, number: str) -> list[str]:
    return [r["payload"]["Body"] for r in fakes.twilio.requests if r["to"] == number]


async def staff_in_telegram(desk: Desk) -> str:
    staff_chat = str(790000 + next(_n))
    admin = Contact(
        id="admin-a", name="Админ", locale="ru", timezone="Europe/Moscow", telegram_chat_id=staff_chat
    )
    settings = TenantSettings(timezone="Europe/Moscow", staff_recipients=[admin])
    await desk.clinic.store.put_settings(desk.clinic.tenant, settings)
    return staff_chat


async def test_an_sms_reply_2_declines_the_visit_and_staff_hear_of_it(desk: Desk, fakes: Fakes) -> None:
    staff_chat = await staff_in_telegram(desk)
    number = phone()
    await reminded(desk, "ans-1", patient(id="ans-p1", phone=number))
    assert [s for s in await desk.clinic.steps("ans-1") if s.startswith("reminder-24h")]

    answered = await text(desk, fakes, number, "2")

    assert answered.status_code == 200 and "<Response>" in answered.text
    state = await desk.clinic.settle("ans-1")
    assert state.view.attendance == "declined"  # type: ignore[union-attr]
    assert len([r for r in fakes.telegram.sent() if r.get("chat_id") == staff_chat]) == 1


async def test_an_sms_reply_1_confirms_and_a_redelivered_webhook_changes_nothing(
    desk: Desk, fakes: Fakes
) -> None:
    number = phone()
    await reminded(desk, "ans-2", patient(id="ans-p2", phone=number))
    sid = f"SM{next(_n):032x}"
    form, signature = twilio.incoming_message(URL, number, "Да, приду", fakes.twilio.auth_token, sid)
    for _ in range(2):
        assert (await desk.api.post("/v1/inbound/twilio", data=form, headers=signature)).status_code == 200
    assert (await desk.clinic.settle("ans-2")).view.attendance == "confirmed"  # type: ignore[union-attr]
    replies = (await desk.api.get("/v1/replies", headers=key(desk))).json()["replies"]
    assert [(r["intent"], r["outcome"]) for r in replies if r["sender"] == number] == [
        ("confirm", "attendance.confirmed")
    ]


async def test_stop_please_opts_out_once_and_the_next_reminder_goes_by_email_until_start(
    desk: Desk, fakes: Fakes
) -> None:
    number, address = phone(), f"stop-{next(_n)}@patients.example"
    person = patient(id="ans-p3", phone=number, email=address, preferred_channels=["sms"])
    starts_at = await reminded(desk, "ans-3", person)
    assert len(sms_to(fakes, number)) == 2  # the confirmation and the 24-hour reminder

    assert (await text(desk, fakes, number, "Stop please")).status_code == 200
    assert (await text(desk, fakes, number, "STOP")).status_code == 200

    # One confirmation, however many STOPs
    assert len(sms_to(fakes, number)) == 3 and "СТАРТ" in sms_to(fakes, number)[-1]
    ledger = (await desk.api.get("/v1/contacts/ans-p3/consents", headers=key(desk))).json()["consents"]
    assert {(r["channel"], r["category"], r["status"], r["source"]) for r in ledger} == {
        ("sms", c, "revoked", "keyword") for c in ("transactional", "reminders", "billing", "marketing")
    }
    assert ledger[0]["evidence"]["text"] == "Stop please" and ledger[0]["contact_point"] == number
    # The 2-hour reminder: not by SMS, by email
    await desk.clinic.advance_to(starts_at - timedelta(hours=1), "ans-3")
    assert len(sms_to(fakes, number)) == 3
    assert len([m for m in fakes.smtp.messages if m["To"] == address]) == 1

    # START grants it back, confirmed by SMS
    assert (await text(desk, fakes, number, "START")).status_code == 200
    assert len(sms_to(fakes, number)) == 4
    ledger = (await desk.api.get("/v1/contacts/ans-p3/consents", headers=key(desk))).json()["consents"]
    assert [r["status"] for r in ledger[-4:]] == ["granted"] * 4
    restored = await desk.clinic.store.contact_for_sending(desk.clinic.tenant, Contact(id="ans-p3"))
    assert restored.consent_revoked == []


async def test_a_reply_about_a_moved_visit_is_not_applied_and_the_patient_hears_the_new_time(
    desk: Desk, fakes: Fakes
) -> None:
    number = phone()
    starts_at = await reminded(desk, "ans-4", patient(id="ans-p4", phone=number))
    moved_to = starts_at + timedelta(days=1, hours=2)
    await desk.clinic.post(
        "appointment.rescheduled",
        {"appointment_id": "ans-4", "starts_at": moved_to.isoformat(), "duration_minutes": 30},
    )
    before = len(sms_to(fakes, number))

    assert (await text(desk, fakes, number, "1")).status_code == 200

    state = await desk.clinic.settle("ans-4")
    assert state.view.attendance is None  # type: ignore[union-attr]
    told = sms_to(fakes, number)[before:]
    assert any("перенес" in body and "16:00" in body for body in told), told


async def test_a_reply_after_a_cancellation_is_not_applied(desk: Desk, fakes: Fakes) -> None:
    number = phone()
    await reminded(desk, "ans-5", patient(id="ans-p5", phone=number))
    await desk.clinic.post(
        "appointment.cancelled", {"appointment_id": "ans-5", "cancelled_by": "clinic", "reason": ""}
    )
    before = len(sms_to(fakes, number))
    assert (await text(desk, fakes, number, "да")).status_code == 200
    assert (await desk.clinic.settle("ans-5")).view.attendance is None  # type: ignore[union-attr]
    assert any("отмен" in body for body in sms_to(fakes, number)[before:])


async def yes_to_a_cancelled_visit(desk: Desk, fakes: Fakes, ref: str, *gateway_answers: str) -> list[str]:
    """A patient's "yes" after the visit was cancelled, answered by the engine ("it was cancelled")
    through a Twilio that first answers `gateway_answers`: how Twilio answered each call for it,
    once the engine has stopped trying."""
    number = phone()
    await reminded(desk, ref, patient(id=f"{ref}-p", phone=number))
    await desk.clinic.post(
        "appointment.cancelled", {"appointment_id": ref, "cancelled_by": "clinic", "reason": ""}
    )
    before = len(sms_to(fakes, number))
    fakes.twilio.plan(number, *gateway_answers)
    assert (await text(desk, fakes, number, "да")).status_code == 200
    row = await the_answer(desk, f"{ref}-p")
    if row.status.value == "planned":  # not taken at once: tried again by its workflow, till it ends
        await tried_to_the_end(desk, row)
    return [r["answer"] for r in fakes.twilio.requests if r["to"] == number][before:]


async def tried_to_the_end(desk: Desk, row: Delivery) -> None:
    """Minutes of the test server's time pass, half a minute at a time, till the answer's workflow ends."""
    handle = desk.clinic.env.client.get_workflow_handle(answer_workflow_id(row.idempotency_key))
    for _ in range(60):
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            return
        await skip(desk.clinic.env, timedelta(seconds=30))
    raise AssertionError("the answer's workflow still runs after 30 minutes")


async def the_answer(desk: Desk, contact_id: str) -> Delivery:
    [row] = [
        d
        for d in await desk.clinic.store.list_deliveries(desk.clinic.tenant, contact_id=contact_id)
        if d.step.startswith("reply-")
    ]
    return row


async def attempts_of(desk: Desk, row: Delivery) -> list[str]:
    return [a.status.value for a in await desk.clinic.store.list_attempts(row.id)]


async def test_an_answer_the_gateway_refused_for_now_goes_again_and_both_attempts_are_logged(
    desk: Desk, fakes: Fakes
) -> None:
    # Given Twilio refuses the answer once with a 503: it did not take the message
    calls = await yes_to_a_cancelled_visit(desk, fakes, "ans-r", "unavailable")
    # Then the answer went again and reached the patient once, and the log holds both attempts
    assert calls == ["unavailable", "ok"]
    row = await the_answer(desk, "ans-r-p")
    assert row.status.value == "sent"
    assert await attempts_of(desk, row) == ["failed", "sent"]
    assert "503" in ((await desk.clinic.store.list_attempts(row.id))[0].reason or "")


async def test_an_answer_twilio_asks_to_send_later_goes_no_sooner_than_it_asked(
    desk: Desk, fakes: Fakes
) -> None:
    # Given Twilio answers the answer's first call with 429 and Retry-After: 2
    calls = await yes_to_a_cancelled_visit(desk, fakes, "ans-w", "too_many")
    # Then it went once more, after the two seconds Twilio asked for (the workflow's timer)
    assert calls == ["too_many", "ok"]
    row = await the_answer(desk, "ans-w-p")
    assert row.status.value == "sent"
    handle = desk.clinic.env.client.get_workflow_handle(answer_workflow_id(row.idempotency_key))
    events = (await handle.fetch_history()).events
    timers = [
        e.timer_started_event_attributes for e in events if e.HasField("timer_started_event_attributes")
    ]
    assert [t.start_to_fire_timeout.ToTimedelta() for t in timers] == [timedelta(seconds=2)]


async def test_an_answer_through_a_gateway_down_for_minutes_reaches_the_patient_once_it_is_back(
    desk: Desk, fakes: Fakes
) -> None:
    # Given Twilio answers 503 to the webhook's own call and to the next four, minutes apart
    calls = await yes_to_a_cancelled_visit(desk, fakes, "ans-m", *["unavailable"] * 5)
    # Then the answer waited and went when Twilio was back: once, every attempt logged
    assert calls == ["unavailable"] * 5 + ["ok"]
    row = await the_answer(desk, "ans-m-p")
    assert row.status.value == "sent" and row.body and "отмен" in row.body
    assert await attempts_of(desk, row) == ["failed"] * 5 + ["sent"]


async def test_an_answer_no_attempt_got_through_ends_failed_and_goes_no_more(
    desk: Desk, fakes: Fakes
) -> None:
    # Given Twilio refuses every call for the answer for longer than an answer is worth sending
    calls = await yes_to_a_cancelled_visit(desk, fakes, "ans-f", *["unavailable"] * 30)
    # Then it was tried on the webhook and ten times more, and is recorded failed with the reason
    assert calls == ["unavailable"] * 11
    row = await the_answer(desk, "ans-f-p")
    assert row.status.value == "failed" and "503" in (row.reason or "")
    assert await attempts_of(desk, row) == ["failed"] * 11 + ["failed"]


async def test_an_answer_refused_while_temporal_is_away_is_recorded_failed_at_once(
    desk: Desk, fakes: Fakes
) -> None:
    # Given a patient texts STOP, Twilio refuses the answer for now, and Temporal is unreachable
    number = phone()
    await reminded(desk, "ans-t", patient(id="ans-t-p", phone=number))
    fakes.twilio.plan(number, "unavailable")
    assert desk.app is not None
    temporal = desk.app.state.temporal
    desk.app.state.temporal = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    try:
        answered = await text(desk, fakes, number, "STOP")
    finally:
        desk.app.state.temporal = temporal
    # Then the webhook still answers, and the answer is recorded failed with Twilio's reason, not left waiting
    assert answered.status_code == 200
    row = await the_answer(desk, "ans-t-p")
    assert row.status.value == "failed" and "503" in (row.reason or "")
    assert [r["answer"] for r in fakes.twilio.requests if r["to"] == number][-1:] == ["unavailable"]


async def test_an_answer_the_gateway_may_have_taken_is_not_sent_again(desk: Desk, fakes: Fakes) -> None:
    # Given Twilio takes the answer and answers only after our client gave up
    calls = await yes_to_a_cancelled_visit(desk, fakes, "ans-h", "accept_hang")
    # Then it was not sent a second time: the patient may have it, a second copy would be a duplicate
    assert calls == ["accept_hang"]
    # And the row says so: unknown, not failed and not sent
    assert (await the_answer(desk, "ans-h-p")).status.value == "unknown"


async def test_an_answer_whose_attempt_was_cut_off_during_its_call_is_not_sent_again(
    desk: Desk, fakes: Fakes
) -> None:
    # Given an answer's attempt claimed its row and its worker died during the call
    number = phone()
    contact = Contact(id="ans-k-p", phone=number)
    draft = answer_draft(desk.clinic.tenant, "ans-k-p", "cut", datetime.now(UTC))
    row, _ = await desk.clinic.store.begin_delivery(draft)
    await desk.clinic.store.claim_sending(row.id, DeliveryStatus.PLANNED, "sms", "twilio", "Ответ")
    # When its workflow tries again
    answer = AnswerInput(
        tenant=desk.clinic.tenant, delivery_id=row.id, channel=Channel.SMS, recipient=contact, text="Ответ"
    )
    status = await desk.clinic.env.client.execute_workflow(
        AnswerWorkflow.run,
        answer,
        id=answer_workflow_id(row.idempotency_key),
        task_queue=desk.clinic.task_queue,
    )
    # Then it is recorded unknown and Twilio was not called again
    assert status == DeliveryStatus.UNKNOWN
    assert (await desk.clinic.store.get_delivery(row.id)).status == DeliveryStatus.UNKNOWN  # type: ignore[union-attr]
    assert sms_to(fakes, number) == []


async def test_a_rating_by_sms_digit_lands_as_feedback(desk: Desk, fakes: Fakes) -> None:
    number = phone()
    starts_at = await reminded(desk, "ans-6", patient(id="ans-p6", phone=number))
    await desk.clinic.advance_to(starts_at + timedelta(minutes=40), "ans-6")
    await desk.clinic.post("appointment.completed", {"appointment_id": "ans-6"})
    await desk.clinic.advance(timedelta(hours=3), "ans-6")
    assert "feedback_request" in await desk.clinic.steps("ans-6", "sent")

    assert (await text(desk, fakes, number, "5 спасибо")).status_code == 200

    state = await desk.clinic.settle("ans-6")
    assert (state.view.rating, state.view.comment) == (5, "спасибо")  # type: ignore[union-attr]


async def test_help_names_the_clinic_and_an_unknown_reply_goes_to_staff(desk: Desk, fakes: Fakes) -> None:
    staff_chat = await staff_in_telegram(desk)
    number = phone()
    await reminded(desk, "ans-7", patient(id="ans-p7", phone=number))
    before = len(sms_to(fakes, number))
    await text(desk, fakes, number, "HELP")
    await text(desk, fakes, number, "Можно перенести на пятницу?")
    assert "Клиника на Арбате" in sms_to(fakes, number)[before]
    assert len(sms_to(fakes, number)) == before + 1  # nobody answers "invalid response"
    unknown = (await desk.api.get("/v1/replies?intent=unknown", headers=key(desk))).json()["replies"]
    assert [r["text"] for r in unknown if r["sender"] == number] == ["Можно перенести на пятницу?"]
    [told] = [r["payload"]["text"] for r in fakes.telegram.sent() if r.get("chat_id") == staff_chat]
    assert number in told and "Можно перенести на пятницу?" in told


async def test_the_api_answers_replies_over_the_connection_it_keeps_to_the_provider(
    desk: Desk, fakes: Fakes
) -> None:
    """Each answer used to build every channel's client (TLS contexts, the push service's key:
    50-100 ms of the API's event loop) and open a new connection to the provider."""
    number = phone()
    await reminded(desk, "ans-12", patient(id="ans-p12", phone=number))
    before = len(sms_to(fakes, number))
    await text(desk, fakes, number, "HELP")
    await text(desk, fakes, number, "HELP")
    answers = [r for r in fakes.twilio.requests if r["to"] == number][before:]
    assert [r["answer"] for r in answers] == ["ok", "ok"]
    assert answers[0]["connection"] == answers[1]["connection"]


async def test_forged_and_malformed_incoming_messages_are_refused(desk: Desk, fakes: Fakes) -> None:
    number = phone()
    await reminded(desk, "ans-8", patient(id="ans-p8", phone=number))
    assert (await text(desk, fakes, number, "2", token="not-the-token")).status_code == 401
    form, signature = twilio.incoming_message(URL, "", "2", fakes.twilio.auth_token, "SMx")
    assert (await desk.api.post("/v1/inbound/twilio", data=form, headers=signature)).status_code == 400
    assert (await desk.clinic.settle("ans-8")).view.attendance is None  # type: ignore[union-attr]


async def test_a_whatsapp_text_answers_the_reminder_too(desk: Desk, fakes: Fakes) -> None:
    number = phone()
    fakes.whatsapp.window.add(number)
    person = patient(id="ans-p9", phone=number, whatsapp=True)
    await desk.clinic.store.upsert_contact(desk.clinic.tenant, Contact.model_validate(person))
    now = int((await desk.clinic.now()).timestamp())
    body, headers = whatsapp.signed(whatsapp.inbound_message(number, now, "hi"), "meta-app-secret")
    assert (await desk.api.post("/v1/inbound/whatsapp", content=body, headers=headers)).status_code == 200
    await reminded(desk, "ans-9", person)
    assert [r.channel for r in await desk.clinic.deliveries("ans-9")][-1] == "whatsapp"
    message = whatsapp.inbound_message(number, now, "нет")
    message["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = "wamid.NO"
    body, headers = whatsapp.signed(message, "meta-app-secret")
    assert (await desk.api.post("/v1/inbound/whatsapp", content=body, headers=headers)).status_code == 200
    assert (await desk.clinic.settle("ans-9")).view.attendance == "declined"  # type: ignore[union-attr]


async def test_stop_with_no_other_channel_skips_the_next_reminder_with_the_reason(
    desk: Desk, fakes: Fakes
) -> None:
    number = phone()
    starts_at = await reminded(desk, "ans-10", patient(id="ans-p10", phone=number))
    assert (await text(desk, fakes, number, "СТОП")).status_code == 200
    sent = len(sms_to(fakes, number))
    await desk.clinic.advance_to(starts_at - timedelta(hours=1), "ans-10")
    assert len(sms_to(fakes, number)) == sent
    [two_hours] = [r for r in await desk.clinic.deliveries("ans-10") if r.step.startswith("reminder-2h")]
    assert two_hours.status == "skipped" and "opted out" in str(two_hours.reason)


async def test_consent_revoked_by_the_backend_for_reminders_on_sms_keeps_confirmations_on_sms(
    desk: Desk, fakes: Fakes
) -> None:
    number, address = phone(), f"cat-{next(_n)}@patients.example"
    person = patient(id="ans-p11", phone=number, email=address, preferred_channels=["sms"])
    revoked = {
        "specversion": "1.0", "id": f"c-{next(_n)}", "source": "crm", "type": "consent.revoked",
        "tenant": desk.clinic.tenant,
        "data": {"contact_id": "ans-p11", "category": "reminders", "channel": "sms", "source": "staff",
                 "evidence": "asked at the front desk"},
    }  # fmt: skip
    posted = await desk.api.post(
        "/v1/events", json=revoked, headers={**key(desk), "Content-Type": "application/cloudevents+json"}
    )
    assert posted.status_code == 202, posted.text

    await reminded(desk, "ans-11", person)

    rows = {row.template: row for row in await desk.clinic.deliveries("ans-11")}
    assert rows["appointment_confirmed"].channel == "sms"
    assert rows["visit_reminder"].channel == "email"
    [record] = (await desk.api.get("/v1/contacts/ans-p11/consents", headers=key(desk))).json()["consents"]
    assert (record["source"], record["evidence"]["text"], record["actor"]) == (
        "staff",
        "asked at the front desk",
        "crm",
    )


async def test_a_telegram_button_pressed_after_a_reschedule_is_not_applied(desk: Desk, fakes: Fakes) -> None:
    chat = str(795000 + next(_n))
    starts_at = await reminded(desk, "ans-12", patient(id="ans-p12", telegram_chat_id=chat))
    markup = [r["payload"].get("reply_markup") for r in fakes.telegram.requests if r.get("chat_id") == chat]
    [row] = next(m for m in markup if m)["inline_keyboard"]
    moved_to = starts_at + timedelta(days=2)
    await desk.clinic.post(
        "appointment.rescheduled",
        {"appointment_id": "ans-12", "starts_at": moved_to.isoformat(), "duration_minutes": 30},
    )
    pressed = await desk.api.post(
        "/v1/inbound/telegram",
        json=telegram.callback_update(chat, row[0]["callback_data"]),
        headers={"X-Telegram-Bot-Api-Secret-Token": "tg-hook-secret"},
    )
    assert "перенес" in pressed.json()["text"]
    assert (await desk.clinic.settle("ans-12")).view.attendance is None  # type: ignore[union-attr]


def telegram_text(chat: str, text: str) -> dict[str, Any]:
    return {
        "update_id": next(_n),
        "message": {
            "message_id": next(_n),
            "date": 1_700_000_000,
            "chat": {"id": int(chat), "type": "private"},
            "from": {"id": int(chat), "is_bot": False, "first_name": "Anna"},
            "text": text,
        },
    }


async def test_typed_telegram_text_declines_and_stop_takes_telegram_off_the_route(
    desk: Desk, fakes: Fakes
) -> None:
    chat, number = str(796000 + next(_n)), phone()
    await reminded(desk, "ans-13", patient(id="ans-p13", telegram_chat_id=chat, phone=number))
    secret = {"X-Telegram-Bot-Api-Secret-Token": "tg-hook-secret"}
    for typed in ("нет", "/stop", "стоп"):
        answer = await desk.api.post("/v1/inbound/telegram", json=telegram_text(chat, typed), headers=secret)
        assert answer.status_code == 200
    assert (await desk.clinic.settle("ans-13")).view.attendance == "declined"  # type: ignore[union-attr]
    told = [r["payload"]["text"] for r in fakes.telegram.sent() if r.get("chat_id") == chat]
    assert len([text for text in told if "СТАРТ" in text]) == 1
    ledger = (await desk.api.get("/v1/contacts/ans-p13/consents", headers=key(desk))).json()["consents"]
    assert {(r["channel"], r["contact_point"], r["status"]) for r in ledger} == {
        ("telegram", chat, "revoked")
    }
    routed = await desk.clinic.store.contact_for_sending(desk.clinic.tenant, Contact(id="ans-p13"))
    costs = TenantSettings().channel_costs
    assert channel_order(routed, costs, "visit_reminder") == [Channel.SMS]
