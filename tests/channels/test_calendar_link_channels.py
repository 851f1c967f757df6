"""The add-to-calendar link is in the confirmation and the reschedule notice on every channel.

Each patient can be reached on one channel only; the link is read from what the fake provider got
(SMS, email, FCM, Web Push decrypted, Telegram, WhatsApp text) and opened as an iPhone would.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, time, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from domain.contacts import Contact
from tests.channels.clinic import local_day
from tests.channels.conftest import Fakes
from tests.channels.test_answers import open_desk
from tests.channels.test_calendar_link import ANDROID, IPHONE, event_of, links
from tests.channels.test_inbound import Desk
from tests.factories import appointment, patient
from tests.fakes import ADDRESSES

LINK = re.compile(r"http://nudgeflow(/c/[A-Za-z0-9_]+)")
_n = ADDRESSES  # shared by every module: the fakes live for the whole session


@pytest_asyncio.fixture
async def desk(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> AsyncIterator[Desk]:
    async with open_desk(time_env, fakes, task_queue, tmp_path, calendar_link=links) as opened:
        yield opened


def _texts(message: Message) -> list[str]:
    return [
        str(part.get_payload(decode=True).decode())  # type: ignore[union-attr]
        for part in message.walk()
        if part.get_content_type() in ("text/plain", "text/html")
    ]


def _attachments(message: Message) -> list[str]:
    return [part.get_content_type() for part in message.walk() if part.get_filename()]


class Reach:
    """One patient reachable on one channel, and what that channel's fake received for them."""

    def __init__(self, channel: str, fakes: Fakes) -> None:
        n = next(_n)
        self.channel, self.fakes = channel, fakes
        self.address = {
            "sms": f"+4477007{n + 52000:05d}",
            "whatsapp": f"+4477006{n + 52000:05d}",
            "email": f"cal-{n}@patients.example",
            "push": f"fcm-token-cal-{n}",
            "webpush": f"cal-browser-{n}",
            "telegram": str(798000 + n),
        }[channel]

    def contact(self) -> dict[str, Any]:
        base = {"id": f"cal-{self.channel}", "preferred_channels": [self.channel]}
        if self.channel in ("sms", "whatsapp"):
            return patient(**base, phone=self.address, whatsapp=self.channel == "whatsapp")
        if self.channel == "email":
            return patient(**base, email=self.address)
        if self.channel == "push":
            return patient(**base, push_tokens=[self.address])
        if self.channel == "webpush":
            return patient(**base, webpush_subscriptions=[self.fakes.webpush.subscribe(self.address)])
        return patient(**base, telegram_chat_id=self.address)

    def received(self) -> list[str]:
        fakes, to = self.fakes, self.address
        if self.channel == "sms":
            return [r["payload"]["Body"] for r in fakes.twilio.sent() if r["to"] == to]
        if self.channel == "whatsapp":
            sent = [r for r in fakes.whatsapp.sent() if r["to"].lstrip("+") == to.lstrip("+")]
            return [r["payload"]["text"]["body"] for r in sent if r["type"] == "text"]
        if self.channel == "email":
            return ["\n".join(_texts(m)) for m in fakes.smtp.messages if m["To"] == to]
        if self.channel == "push":
            return [
                r["payload"]["message"]["notification"]["body"] for r in fakes.fcm.sent() if r["token"] == to
            ]
        if self.channel == "webpush":
            return [r["payload"]["body"] for r in fakes.webpush.sent() if r["name"] == to]
        return [r["payload"]["text"] for r in fakes.telegram.sent() if r.get("chat_id") == to]


@pytest.mark.parametrize("channel", ["sms", "email", "push", "webpush", "telegram", "whatsapp"])
async def test_the_confirmation_and_the_reschedule_notice_carry_a_link_that_follows_the_visit(
    desk: Desk, fakes: Fakes, channel: str
) -> None:
    reach, ref = Reach(channel, fakes), f"cal-{channel}"
    person = reach.contact()
    if channel == "whatsapp":  # free text inside the 24-hour window (templates are another part's)
        await desk.clinic.store.upsert_contact(desk.clinic.tenant, Contact.model_validate(person))
        await desk.clinic.store.open_whatsapp_window(
            reach.address, await desk.clinic.now() + timedelta(days=30)
        )
        fakes.whatsapp.window.add(reach.address)
    starts_at = await local_day(desk.clinic, 3, time(14, 0))

    await desk.clinic.post("appointment.confirmed", appointment(ref, starts_at, patient=person))

    [confirmation] = reach.received()
    [link] = set(LINK.findall(confirmation))  # email: in the text and the html
    opened = await desk.api.get(link, headers={"User-Agent": IPHONE})
    assert opened.status_code == 200, opened.text
    assert event_of(opened.text)["start"] == starts_at
    rows = {row.template: row for row in await desk.clinic.deliveries(ref)}
    assert rows["appointment_confirmed"].channel == channel
    if channel == "email":  # the link beside the invitation, not instead of it
        [mail] = [m for m in fakes.smtp.messages if m["To"] == reach.address]
        assert "text/calendar" in _attachments(mail)

    moved_to = starts_at + timedelta(days=1, hours=1)
    await desk.clinic.post(
        "appointment.rescheduled",
        {"appointment_id": ref, "starts_at": moved_to.isoformat(), "duration_minutes": 30},
    )

    [_, notice] = reach.received()
    [new_link] = set(LINK.findall(notice))
    for either in (link, new_link):
        moved = event_of((await desk.api.get(either, headers={"User-Agent": IPHONE})).text)
        assert (moved["start"], moved["sequence"]) == (moved_to, 1)
    android = await desk.api.get(new_link, headers={"User-Agent": ANDROID})
    start_utc = moved_to.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    assert android.status_code == 302 and f"dates={start_utc}" in android.headers["location"]
    if channel == "sms":  # short: two segments at most, the link included
        assert all(len(body) <= 306 for body in reach.received())

    await desk.clinic.post(
        "appointment.cancelled", {"appointment_id": ref, "cancelled_by": "clinic", "reason": ""}
    )
    gone = await desk.api.get(link, headers={"User-Agent": IPHONE})
    assert "method=CANCEL" in gone.headers["content-type"] and event_of(gone.text)["status"] == "CANCELLED"
