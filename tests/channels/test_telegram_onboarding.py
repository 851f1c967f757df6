"""A patient moves from SMS to the clinic's free Telegram bot: over real HTTP, counted at the fakes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
import uvicorn
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from channels import replies
from channels.telegram_links import start_links
from config import Settings
from domain.contacts import Contact
from tests.channels.clinic import clinic_with_fakes, local_day
from tests.channels.conftest import Fakes
from tests.factories import appointment, patient
from tests.fakes import ADDRESSES, telegram
from tests.ports import free_port
from tests.workflows.harness import Clinic

BOT = "smile_clinic_bot"
HOOK_SECRET = "tg-hook-secret"
LINK = re.compile(rf"https://t\.me/{BOT}\?start=([A-Za-z0-9_-]+)")
_n = ADDRESSES  # shared by every module: the fakes live for the whole session


@dataclass
class Desk:
    clinic: Clinic
    url: str  # the API, served on loopback for the fake Telegram to call

    @property
    def webhook(self) -> str:
        return f"{self.url}/v1/inbound/telegram"

    def key(self) -> dict[str, str]:
        return {"Authorization": f"Bearer key-{self.clinic.tenant}"}


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest_asyncio.fixture
async def desk(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> AsyncIterator[Desk]:
    config = fakes.config(telegram_bot_username=BOT)
    links = start_links(config)
    async with clinic_with_fakes(time_env, fakes, task_queue, tmp_path, telegram_link=links) as clinic:
        app = create_app(Settings(task_queue=task_queue), store=clinic.store, temporal=time_env.client)
        app.state.channels = config
        async with serving(app) as url:
            yield Desk(clinic, url)


def phone() -> str:
    return f"+4477009{next(_n) + 52000:05d}"


def sms_to(fakes: Fakes, number: str) -> list[str]:
    return [str(r["payload"]["Body"]) for r in fakes.twilio.requests if r["to"] == number]


def telegram_to(fakes: Fakes, chat: str) -> list[str]:
    return [str(r["payload"].get("text", "")) for r in fakes.telegram.sent() if r.get("chat_id") == chat]


async def confirmed(desk: Desk, ref: str, person: dict[str, Any], days: int = 3) -> datetime:
    # The API stores a contact with its first event; the harness signals the workflow directly.
    await desk.clinic.store.upsert_contact(desk.clinic.tenant, Contact.model_validate(person))
    starts_at = await local_day(desk.clinic, days, time(14, 0))
    await desk.clinic.post("appointment.confirmed", appointment(ref, starts_at, patient=person))
    return starts_at


async def cost_report(desk: Desk) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    span = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    async with httpx.AsyncClient() as api:
        response = await api.get(f"{desk.url}/v1/reports/costs", params=span, headers=desk.key())
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


async def test_a_patient_who_presses_the_link_in_the_sms_gets_the_next_reminder_on_telegram(
    desk: Desk, fakes: Fakes
) -> None:
    number, chat = phone(), str(880000 + next(_n))
    # The clinic's backend says SMS; pressing Start is the patient's newer word.
    person = patient(id="tg-p1", phone=number, preferred_channels=["sms"])
    starts_at = await confirmed(desk, "tg-1", person)

    [confirmation] = sms_to(fakes, number)
    assert "Напоминания в Telegram, бесплатно: https://t.me/smile_clinic_bot?start=" in confirmation
    assert "{{" not in confirmation and "{%" not in confirmation
    match = LINK.search(confirmation)
    assert match is not None

    # The patient opens the link and presses Start: Telegram posts `/start <token>` to our webhook.
    pressed = await fakes.telegram.deliver(
        desk.webhook, HOOK_SECRET, telegram.start_update(chat, match.group(1))
    )
    assert pressed.status_code == 200
    [welcome] = telegram_to(fakes, chat)
    assert welcome.startswith("Здравствуйте, Анна Петрова! Теперь напоминания о визитах будут приходить сюда")

    await desk.clinic.advance_to(starts_at - timedelta(hours=23), "tg-1")

    reminders = telegram_to(fakes, chat)[1:]
    assert len(reminders) == 1 and "14:00" in reminders[0]
    assert len(sms_to(fakes, number)) == 1  # one SMS fewer: the reminder did not go by SMS
    rows = {(r["channel"], r["provider"]): r["messages"] for r in (await cost_report(desk))["rows"]}
    assert rows == {("sms", "twilio"): 1, ("telegram", "telegram"): 1}
    report = await cost_report(desk)
    assert report["currency"] == "USD" and report["cost"] == 0.0079
    assert report["saving"] == {"messages": 1, "cost": 0.0079}  # the reminder, an SMS not sent


async def test_the_link_is_offered_once_and_a_forged_or_expired_one_links_nothing(
    desk: Desk, fakes: Fakes
) -> None:
    number, chat = phone(), str(880000 + next(_n))
    person = patient(id="tg-p2", phone=number, locale="en", name="Anna")
    await confirmed(desk, "tg-2", person, days=3)
    await confirmed(desk, "tg-3", person, days=5)

    first, second = sms_to(fakes, number)
    assert "Reminders in Telegram, free: https://t.me/smile_clinic_bot?start=" in first
    assert "t.me" not in second  # offered once per contact
    match = LINK.search(first)
    assert match is not None
    [row] = await desk.clinic.deliveries("tg-2")
    expired = replies.start_token(row.id, "test-reply-secret", datetime.now(UTC) - timedelta(days=31))
    forged = replies.start_token(row.id, "not-our-secret", datetime.now(UTC))

    good = match.group(1)
    altered = good[:-1] + ("1" if good[-1] == "0" else "0")
    for token in (expired, forged, altered):
        answer = await fakes.telegram.deliver(desk.webhook, HOOK_SECRET, telegram.start_update(chat, token))
        assert answer.status_code == 200 and answer.json() == {}
    unsigned = await fakes.telegram.deliver(desk.webhook, "guess", telegram.start_update(chat, good))
    assert unsigned.status_code == 401
    assert telegram_to(fakes, chat) == []  # no welcome, nothing linked
    linked = await desk.clinic.store.contact_for_sending(desk.clinic.tenant, Contact(id="tg-p2"))
    assert linked.telegram_chat_id is None

    await fakes.telegram.deliver(desk.webhook, HOOK_SECRET, telegram.start_update(chat, good))
    assert telegram_to(fakes, chat)[0].startswith("Hello Anna! From now on your appointment reminders")


async def test_a_contact_already_in_telegram_is_not_offered_the_link(desk: Desk, fakes: Fakes) -> None:
    number, chat = phone(), str(880000 + next(_n))
    await confirmed(desk, "tg-4", patient(id="tg-p4", phone=number, telegram_chat_id=chat))
    [confirmation] = telegram_to(fakes, chat)
    assert "t.me" not in confirmation and sms_to(fakes, number) == []


def _texts(message: Message) -> list[str]:
    return [
        str(part.get_payload(decode=True).decode())  # type: ignore[union-attr]
        for part in message.walk()
        if part.get_content_type() in ("text/plain", "text/html")
    ]


async def test_an_email_confirmation_carries_the_link_in_its_text_and_html(desk: Desk, fakes: Fakes) -> None:
    address = f"tg-{next(_n)}@patients.example"
    await confirmed(desk, "tg-5", patient(id="tg-p5", phone=None, email=address, locale="de"))
    [mail] = [m for m in fakes.smtp.messages if m["To"] == address]
    text, html = _texts(mail)
    assert "Erinnerungen in Telegram, kostenlos: https://t.me/smile_clinic_bot?start=" in text
    assert '<a href="https://t.me/smile_clinic_bot?start=' in html


async def test_a_whatsapp_confirmation_in_the_window_carries_the_link(desk: Desk, fakes: Fakes) -> None:
    number = phone()
    person = patient(id="tg-p6", phone=number, whatsapp=True, locale="en")
    await desk.clinic.store.upsert_contact(desk.clinic.tenant, Contact.model_validate(person))
    # The patient wrote to the clinic on WhatsApp an hour ago: free text is allowed for 24 hours.
    fakes.whatsapp.window.add(number)
    await desk.clinic.store.open_whatsapp_window(number, datetime.now(UTC) + timedelta(hours=23))
    await confirmed(desk, "tg-6", person)
    sent = [r for r in fakes.whatsapp.sent() if r["to"].lstrip("+") == number.lstrip("+")]
    [body] = [r["payload"]["text"]["body"] for r in sent if r["type"] == "text"]
    assert "Reminders in Telegram, free: https://t.me/smile_clinic_bot?start=" in body
