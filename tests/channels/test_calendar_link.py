"""`GET /c/{token}` opened by an iPhone, an Android phone and a desktop, before and after changes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest_asyncio
import vobject
from icalendar import Calendar
from temporalio.testing import WorkflowEnvironment

from channels.calendar_links import calendar_token, calendar_url
from tests.channels.clinic import local_day
from tests.channels.conftest import Fakes
from tests.channels.test_answers import open_desk
from tests.channels.test_inbound import Desk
from tests.factories import appointment, patient


def links(delivery_id: int) -> str:
    return calendar_url("http://nudgeflow", delivery_id, "test-reply-secret", datetime.now(UTC))


@pytest_asyncio.fixture
async def desk(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> AsyncIterator[Desk]:
    async with open_desk(time_env, fakes, task_queue, tmp_path, calendar_link=links) as opened:
        yield opened


IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
ANDROID = "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def event_of(ics: str) -> dict[str, object]:
    """The event as icalendar reads it, checked against a second parser (vobject)."""
    [event] = Calendar.from_ical(ics).walk("VEVENT")
    read = {
        "start": event.decoded("dtstart"),
        "sequence": int(event.get("sequence")),
        "status": str(event.get("status")),
        "uid": str(event.get("uid")),
    }
    other = vobject.readOne(ics).vevent
    assert {
        "start": other.dtstart.value,
        "sequence": int(other.sequence.value),
        "status": other.status.value,
        "uid": other.uid.value,
    } == read
    return read


async def test_the_same_link_follows_a_reschedule_and_a_cancellation(desk: Desk, fakes: Fakes) -> None:
    starts_at = await local_day(desk.clinic, 3, time(14, 0))
    await desk.clinic.post(
        "appointment.confirmed", appointment("cal-1", starts_at, patient=patient(id="cal-p"))
    )
    [confirmation] = await desk.clinic.deliveries("cal-1")
    link = f"/c/{calendar_token(confirmation.id, 'test-reply-secret', datetime.now(UTC))}"

    apple = await desk.api.get(link, headers={"User-Agent": IPHONE})
    assert apple.status_code == 200 and apple.headers["content-type"].startswith("text/calendar")
    assert event_of(apple.text) == {
        "start": starts_at,
        "sequence": 0,
        "status": "CONFIRMED",
        "uid": "cal-1@nudgeflow",
    }
    android = await desk.api.get(link, headers={"User-Agent": ANDROID})
    assert android.status_code == 302
    google = urlparse(android.headers["location"])
    assert google.netloc == "calendar.google.com"
    start_utc = starts_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    assert parse_qs(google.query)["dates"][0].startswith(start_utc)
    choice = await desk.api.get(link, headers={"User-Agent": DESKTOP})
    assert choice.status_code == 200 and "calendar.google.com" in choice.text and "?to=ics" in choice.text

    moved_to = starts_at + timedelta(days=1)
    await desk.clinic.post(
        "appointment.rescheduled",
        {"appointment_id": "cal-1", "starts_at": moved_to.isoformat(), "duration_minutes": 30},
    )
    moved = event_of((await desk.api.get(link, headers={"User-Agent": IPHONE})).text)
    assert (moved["start"], moved["sequence"], moved["status"]) == (moved_to, 1, "CONFIRMED")

    await desk.clinic.post(
        "appointment.cancelled", {"appointment_id": "cal-1", "cancelled_by": "clinic", "reason": ""}
    )
    gone = await desk.api.get(link, headers={"User-Agent": IPHONE})
    assert "method=CANCEL" in gone.headers["content-type"]
    assert event_of(gone.text)["status"] == "CANCELLED" and event_of(gone.text)["sequence"] == 1
    page = await desk.api.get(link, headers={"User-Agent": ANDROID})
    assert page.status_code == 200 and "Cancelled" in page.text


async def test_a_forged_or_unknown_link_is_404(desk: Desk, fakes: Fakes) -> None:
    forged = calendar_token(1, "not-our-secret", datetime.now(UTC))
    assert (await desk.api.get(f"/c/{forged}")).status_code == 404
    assert (await desk.api.get("/c/not-a-token")).status_code == 404
    expired = calendar_token(1, "test-reply-secret", datetime.now(UTC) - timedelta(days=500))
    assert (await desk.api.get(f"/c/{expired}")).status_code == 404


async def test_a_telegram_confirmation_carries_the_link_and_it_follows_the_reschedule(
    desk: Desk, fakes: Fakes
) -> None:
    chat = "797001"
    starts_at = await local_day(desk.clinic, 3, time(14, 0))
    person = patient(id="cal-tg", telegram_chat_id=chat)
    await desk.clinic.post("appointment.confirmed", appointment("cal-2", starts_at, patient=person))
    [text] = [r["payload"]["text"] for r in fakes.telegram.sent() if r.get("chat_id") == chat]
    [link] = re.findall(r"http://nudgeflow(/c/\S+)", text)
    assert event_of((await desk.api.get(link, headers={"User-Agent": IPHONE})).text)["start"] == starts_at
    moved_to = starts_at + timedelta(hours=3)
    await desk.clinic.post(
        "appointment.rescheduled",
        {"appointment_id": "cal-2", "starts_at": moved_to.isoformat(), "duration_minutes": 30},
    )
    assert event_of((await desk.api.get(link, headers={"User-Agent": IPHONE})).text)["start"] == moved_to
