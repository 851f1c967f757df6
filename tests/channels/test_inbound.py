"""Provider callbacks through the API: signatures checked, buttons answer the workflow, statuses land."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import httpx
import pytest_asyncio
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from channels import replies
from config import Settings
from domain.contacts import Contact
from domain.settings import TenantSettings
from tests.channels.clinic import clinic_with_fakes, local_day
from tests.channels.conftest import Fakes
from tests.factories import appointment, patient
from tests.fakes import ADDRESSES, smsaero, telegram, twilio, whatsapp
from tests.workflows.harness import Clinic

TELEGRAM_SECRET = {"X-Telegram-Bot-Api-Secret-Token": "tg-hook-secret"}
_n = ADDRESSES  # shared by every module: the fakes live for the whole session


class Desk:
    """A clinic plus the API that providers call back."""

    def __init__(self, clinic: Clinic, api: httpx.AsyncClient, app: FastAPI | None = None) -> None:
        self.clinic, self.api, self.app = clinic, api, app


@pytest_asyncio.fixture
async def desk(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> AsyncIterator[Desk]:
    async with clinic_with_fakes(time_env, fakes, task_queue, tmp_path) as clinic:
        app = create_app(Settings(task_queue=task_queue), store=clinic.store, temporal=time_env.client)
        app.state.channels = fakes.config(public_base_url="http://nudgeflow")
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://nudgeflow") as api:
                yield Desk(clinic, api)


async def reminder_with_buttons(desk: Desk, fakes: Fakes, ref: str) -> tuple[str, list[str]]:
    """A Telegram patient's appointment up to its 24-hour reminder; the chat and the buttons' data."""
    chat = str(770000 + next(_n))
    starts_at = await local_day(desk.clinic, 3, time(14, 0))
    await desk.clinic.post(
        "appointment.confirmed", appointment(ref, starts_at, patient=patient(telegram_chat_id=chat))
    )
    await desk.clinic.advance_to(starts_at - timedelta(hours=23), ref)
    markup = [r["payload"].get("reply_markup") for r in fakes.telegram.requests if r.get("chat_id") == chat]
    [row] = next(m for m in markup if m)["inline_keyboard"]
    return chat, [button["callback_data"] for button in row]


async def test_a_telegram_button_press_confirms_attendance_in_the_workflow(desk: Desk, fakes: Fakes) -> None:
    chat, buttons = await reminder_with_buttons(desk, fakes, "i-1")
    answer = await desk.api.post(
        "/v1/inbound/telegram", json=telegram.callback_update(chat, buttons[0]), headers=TELEGRAM_SECRET
    )
    assert answer.status_code == 200 and answer.json()["method"] == "answerCallbackQuery"
    await desk.clinic.settle("i-1")
    assert (await desk.clinic.state("i-1")).view.attendance == "confirmed"  # type: ignore[union-attr]


async def test_a_forged_telegram_update_is_refused_and_changes_nothing(desk: Desk, fakes: Fakes) -> None:
    chat, buttons = await reminder_with_buttons(desk, fakes, "i-2")
    update = telegram.callback_update(chat, buttons[1])
    forged = await desk.api.post(
        "/v1/inbound/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
    )
    unsigned = await desk.api.post("/v1/inbound/telegram", json=update)
    assert forged.status_code == unsigned.status_code == 401
    # A well-signed update with a token we did not sign is no answer either.
    fake_token = replies.button_data(1, 1, "not-our-secret", datetime.now(UTC) + timedelta(days=1))
    await desk.api.post(
        "/v1/inbound/telegram", json=telegram.callback_update(chat, fake_token), headers=TELEGRAM_SECRET
    )
    await desk.clinic.settle("i-2")
    assert (await desk.clinic.state("i-2")).view.attendance is None  # type: ignore[union-attr]


async def test_start_deep_link_links_the_chat_to_the_contact(desk: Desk, fakes: Fakes) -> None:
    starts_at = await local_day(desk.clinic, 3, time(14, 0))
    person = patient(id="p-link", phone="+79167770001")
    await desk.clinic.post("appointment.confirmed", appointment("i-3", starts_at, patient=person))
    [row] = await desk.clinic.deliveries("i-3")
    token = replies.start_token(row.id, "test-reply-secret", datetime.now(UTC))
    answer = await desk.api.post(
        "/v1/inbound/telegram", json=telegram.start_update("991", token), headers=TELEGRAM_SECRET
    )
    welcome = answer.json()
    assert (welcome["method"], welcome["chat_id"]) == ("sendMessage", "991")
    assert welcome["text"].startswith("Здравствуйте! Теперь напоминания о визитах будут приходить сюда")
    linked = await desk.clinic.store.contact_for_sending(desk.clinic.tenant, Contact(id="p-link"))
    assert linked.telegram_chat_id == "991"
    await desk.clinic.advance_to(starts_at - timedelta(hours=23), "i-3")
    assert (await desk.clinic.deliveries("i-3"))[-1].channel == "telegram"


async def test_whatsapp_status_webhooks_move_the_delivery_and_forgeries_are_refused(
    desk: Desk, fakes: Fakes
) -> None:
    phone = "+79167770002"
    fakes.whatsapp.window.add(phone)
    starts_at = await local_day(desk.clinic, 3, time(14, 0))
    person = patient(id="p-wa", phone=phone, whatsapp=True)
    # The API stores the contact when its first event arrives; the harness signals directly.
    await desk.clinic.store.upsert_contact(desk.clinic.tenant, Contact.model_validate(person))
    body, headers = whatsapp.signed(
        whatsapp.inbound_message(phone, int((await desk.clinic.now()).timestamp())), "meta-app-secret"
    )
    assert (await desk.api.post("/v1/inbound/whatsapp", content=body, headers=headers)).status_code == 200
    await desk.clinic.post("appointment.confirmed", appointment("i-4", starts_at, patient=person))
    [row] = await desk.clinic.deliveries("i-4")
    assert row.channel == "whatsapp" and row.cost == 0.0  # free text inside the window
    wamid = str(row.provider_message_id)

    forged_body, _ = whatsapp.signed(
        whatsapp.status_webhook(wamid, "failed", 1, error_code=131026), "meta-app-secret"
    )
    _, wrong = whatsapp.signed({}, "not-the-app-secret")
    assert (
        await desk.api.post("/v1/inbound/whatsapp", content=forged_body, headers=wrong)
    ).status_code == 401
    for status in ("read", "delivered", "read"):
        body, headers = whatsapp.signed(whatsapp.status_webhook(wamid, status, 1), "meta-app-secret")
        assert (await desk.api.post("/v1/inbound/whatsapp", content=body, headers=headers)).status_code == 200
    delivery = await desk.clinic.store.get_delivery(row.id)
    assert delivery is not None and delivery.status == "read"  # `delivered` after `read` is no step back
    events = await desk.clinic.store.list_delivery_events(row.id)
    assert [e.status for e in events] == ["read", "delivered"]


async def test_sms_delivery_reports_update_the_log(desk: Desk, fakes: Fakes) -> None:
    starts_at = await local_day(desk.clinic, 3, time(14, 0))
    await desk.clinic.post(
        "appointment.confirmed",
        appointment("i-5", starts_at, patient=patient(id="ru5", phone="+79167770005")),
    )
    await desk.clinic.post(
        "appointment.confirmed",
        appointment("i-6", starts_at, patient=patient(id="uk6", phone="+447700900777")),
    )
    [aero] = await desk.clinic.deliveries("i-5")
    [tw] = await desk.clinic.deliveries("i-6")

    report = smsaero.delivery_report(str(aero.provider_message_id), 1)
    assert (await desk.api.post("/v1/inbound/smsaero?secret=wrong", json=report)).status_code == 401
    assert (await desk.api.post("/v1/inbound/smsaero?secret=aero-secret", json=report)).status_code == 200

    url = "http://nudgeflow/v1/inbound/twilio"
    form, signature = twilio.status_callback(
        url, str(tw.provider_message_id), "undelivered", "wrong-token", "30006"
    )
    assert (await desk.api.post("/v1/inbound/twilio", data=form, headers=signature)).status_code == 401
    form, signature = twilio.status_callback(
        url, str(tw.provider_message_id), "undelivered", fakes.twilio.auth_token, "30006"
    )
    assert (await desk.api.post("/v1/inbound/twilio", data=form, headers=signature)).status_code == 204

    after = {
        r.provider: r
        for r in [await desk.clinic.store.get_delivery(aero.id), await desk.clinic.store.get_delivery(tw.id)]
        if r
    }
    assert after["smsaero"].status == "delivered"
    assert after["twilio"].status == "failed" and "30006" in str(after["twilio"].reason)
    await desk.clinic.settle("i-6")  # the lifecycle looks for another channel (it has none)


async def _undelivered(desk: Desk, fakes: Fakes, sid: str) -> None:
    url = "http://nudgeflow/v1/inbound/twilio"
    form, signature = twilio.status_callback(url, sid, "undelivered", fakes.twilio.auth_token, "30006")
    assert (await desk.api.post("/v1/inbound/twilio", data=form, headers=signature)).status_code == 204


async def test_a_failed_callback_after_sent_sends_the_message_on_the_next_channel(
    desk: Desk, fakes: Fakes
) -> None:
    # Given a patient reached by SMS first, with an email address too
    address = f"late-{next(_n)}@patients.example"
    anna = patient(id="cb-1", phone="+447700900811", email=address, preferred_channels=["sms"])
    starts_at = await local_day(desk.clinic, 3, time(14, 0))
    await desk.clinic.post("appointment.confirmed", appointment("i-7", starts_at, patient=anna))
    [sms] = await desk.clinic.deliveries("i-7")
    assert sms.channel == "sms" and sms.status == "sent"
    # When Twilio reports later that the SMS never arrived
    await _undelivered(desk, fakes, str(sms.provider_message_id))
    await desk.clinic.settle("i-7")
    # Then the confirmation goes by email, once; the SMS row keeps its failure
    rows = {row.step: row for row in await desk.clinic.deliveries("i-7")}
    assert rows[sms.step].status == "failed"
    assert rows[f"{sms.step}/after-sms"].channel == "email" and rows[f"{sms.step}/after-sms"].status == "sent"
    assert len([m for m in fakes.smtp.messages if m["To"] == address]) == 1
    # And a repeated callback changes nothing
    await _undelivered(desk, fakes, str(sms.provider_message_id))
    await desk.clinic.settle("i-7")
    assert len([m for m in fakes.smtp.messages if m["To"] == address]) == 1


async def test_a_failed_callback_with_no_channel_left_tells_staff(desk: Desk, fakes: Fakes) -> None:
    staff_chat = str(780000 + next(_n))
    admin = Contact(
        id="admin-1", name="Админ", locale="ru", timezone="Europe/Moscow", telegram_chat_id=staff_chat
    )
    await desk.clinic.store.put_settings(
        desk.clinic.tenant, TenantSettings(timezone="Europe/Moscow", staff_recipients=[admin])
    )
    starts_at = await local_day(desk.clinic, 3, time(14, 0))
    await desk.clinic.post(
        "appointment.confirmed",
        appointment("i-8", starts_at, patient=patient(id="cb-2", phone="+447700900822")),
    )
    [sms] = await desk.clinic.deliveries("i-8")
    await _undelivered(desk, fakes, str(sms.provider_message_id))
    await desk.clinic.settle("i-8")
    rows = {row.step: row for row in await desk.clinic.deliveries("i-8")}
    assert rows[f"{sms.step}/after-sms"].status == "skipped"
    assert rows[f"{sms.step}/after-sms/failed/admin-1"].status == "sent"
    assert len([r for r in fakes.telegram.sent() if r.get("chat_id") == staff_chat]) == 1
