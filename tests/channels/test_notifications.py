"""One-off notifications on the time-skipping server, counted at the fake Telegram."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.channels.clinic import clinic_with_fakes
from tests.channels.conftest import Fakes
from tests.fakes import ADDRESSES
from tests.workflows.harness import Clinic, skip

NOVOSIBIRSK = ZoneInfo("Asia/Novosibirsk")  # UTC+7; the clinic's own zone is Moscow (UTC+3)
_n = ADDRESSES  # shared by every module: the fakes live for the whole session


@pytest_asyncio.fixture
async def shop(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> AsyncIterator[Clinic]:
    async with clinic_with_fakes(time_env, fakes, task_queue, tmp_path) as shop:
        yield shop


def customer(chat: str, timezone: str = "Europe/Moscow") -> dict[str, Any]:
    return {
        "id": f"c-{chat}",
        "name": "Ирина",
        "locale": "ru",
        "timezone": timezone,
        "telegram_chat_id": chat,
    }


def notification(nid: str, chat: str, **fields: Any) -> dict[str, Any]:
    return {
        "notification_id": nid,
        "contact": customer(chat, fields.pop("timezone", "Europe/Moscow")),
        "template": "order_status",
        "data": {"order_id": "№ 10482", "status": "shipped", "tracking_url": "https://trk.example/10482"},
        "category": "transactional",
        **fields,
    }


def chat_id() -> str:
    return str(770000 + next(_n))


def sent_to(fakes: Fakes, chat: str) -> list[str]:
    return [str(r["payload"].get("text", "")) for r in fakes.telegram.requests if r.get("chat_id") == chat]


async def test_a_notification_posted_twice_is_sent_once(shop: Clinic, fakes: Fakes) -> None:
    chat = chat_id()
    send_at = (await shop.now()) + timedelta(hours=1)
    data = notification("n-1", chat, send_at=send_at.isoformat())
    await shop.post("notification.requested", data, event_id="req-1")
    # The backend retries under a new event id while it waits, and once more after it went.
    await shop.post("notification.requested", data, event_id="req-2")
    await shop.advance(timedelta(hours=2), "notification:n-1")
    await shop.post("notification.requested", data, event_id="req-3", settle=False)
    await skip(shop.env, timedelta(minutes=5))

    texts = sent_to(fakes, chat)
    assert len(texts) == 1 and "заказ № 10482 отправлен" in texts[0]
    [row] = await shop.deliveries("notification:n-1")
    assert (row.status.value, row.template, row.scheduled_for) == ("sent", "order_status", send_at)


async def test_send_at_without_an_offset_is_the_recipients_wall_clock(shop: Clinic, fakes: Fakes) -> None:
    chat = chat_id()
    local_now = (await shop.now()).astimezone(NOVOSIBIRSK)
    tomorrow_ten = datetime.combine(local_now.date() + timedelta(days=1), time(10, 0))
    data = notification("n-2", chat, timezone="Asia/Novosibirsk", send_at=tomorrow_ten.isoformat())
    await shop.post("notification.requested", data)

    due = tomorrow_ten.replace(tzinfo=NOVOSIBIRSK)  # 03:00 UTC, 06:00 in the clinic's Moscow
    await shop.advance_to(due - timedelta(minutes=5), "notification:n-2")
    assert sent_to(fakes, chat) == []
    await shop.advance_to(due + timedelta(minutes=1), "notification:n-2")
    assert len(sent_to(fakes, chat)) == 1
    [row] = await shop.deliveries("notification:n-2")
    assert row.status.value == "sent" and row.scheduled_for == due


async def test_an_expired_notification_is_skipped_with_its_reason(shop: Clinic, fakes: Fakes) -> None:
    chat = chat_id()
    now = await shop.now()
    data = notification(
        "n-3",
        chat,
        send_at=(now + timedelta(hours=2)).isoformat(),
        expires_at=(now + timedelta(hours=1)).isoformat(),
    )
    await shop.post("notification.requested", data)
    await shop.advance(timedelta(hours=3), "notification:n-3")

    assert sent_to(fakes, chat) == []
    [row] = await shop.deliveries("notification:n-3")
    assert row.status.value == "skipped" and (row.reason or "").startswith("expired")


async def test_quiet_hours_hold_marketing_but_never_transactional(shop: Clinic, fakes: Fakes) -> None:
    marketing_chat, transactional_chat = chat_id(), chat_id()
    night = await shop.wait_until_local(time(23, 0))  # Moscow, inside quiet hours 21:00-09:00
    in_an_hour = (night + timedelta(hours=1)).isoformat()
    await shop.post(
        "notification.requested",
        notification("n-4", marketing_chat, category="marketing", expires_at=in_an_hour),
    )
    await shop.post("notification.requested", notification("n-5", transactional_chat))
    await shop.advance(timedelta(hours=12), "notification:n-4")

    assert sent_to(fakes, marketing_chat) == []
    [held] = await shop.deliveries("notification:n-4")
    assert held.status.value == "skipped" and "quiet hours" in (held.reason or "")
    [went] = await shop.deliveries("notification:n-5")
    assert went.status.value == "sent" and went.scheduled_for - night < timedelta(minutes=1)
    assert len(sent_to(fakes, transactional_chat)) == 1
