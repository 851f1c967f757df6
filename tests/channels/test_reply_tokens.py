"""Reply tokens as an attacker tries them: the old public default, guessing, expiry, a second chat."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from channels import replies
from channels.config import ChannelsConfig, reply_secret
from config import Settings
from domain.contacts import Contact
from domain.deliveries import Delivery
from tests.channels.clinic import clinic_with_fakes, local_day
from tests.channels.conftest import Fakes
from tests.channels.test_inbound import TELEGRAM_SECRET, Desk, reminder_with_buttons
from tests.factories import appointment, patient
from tests.fakes import telegram

OLD_PUBLIC_DEFAULT = "nudgeflow-dev-reply-secret"


@asynccontextmanager
async def desk_with(
    env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path, **channels: Any
) -> AsyncIterator[Desk]:
    async with clinic_with_fakes(env, fakes, task_queue, tmp_path) as clinic:
        app = create_app(Settings(task_queue=task_queue), store=clinic.store, temporal=env.client)
        app.state.channels = fakes.config(public_base_url="http://nudgeflow", **channels)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://nudgeflow") as api:
                yield Desk(clinic, api)


async def confirmed(desk: Desk, ref: str, contact_id: str) -> Delivery:
    starts_at = await local_day(desk.clinic, 3, time(14, 0))
    person = patient(id=contact_id, phone="+79167770101")
    await desk.clinic.post("appointment.confirmed", appointment(ref, starts_at, patient=person))
    [row] = await desk.clinic.deliveries(ref)
    return row


async def start(desk: Desk, chat: str, token: str) -> dict[str, Any]:
    answer = await desk.api.post(
        "/v1/inbound/telegram", json=telegram.start_update(chat, token), headers=TELEGRAM_SECRET
    )
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


async def linked_chat(desk: Desk, contact_id: str) -> str | None:
    return (
        await desk.clinic.store.contact_for_sending(desk.clinic.tenant, Contact(id=contact_id))
    ).telegram_chat_id


def old_style_token(delivery_id: int, secret: str) -> str:
    """A token as the code before this change made it: sequential ids, no expiry, no nonce."""
    tag = hmac.new(secret.encode(), f"reply:{delivery_id}".encode(), hashlib.sha256).hexdigest()[:16]
    return f"d{delivery_id}x{tag}"


def test_the_reply_secret_has_no_public_default(monkeypatch: Any) -> None:
    monkeypatch.delenv("NUDGEFLOW_REPLY_SECRET", raising=False)
    assert reply_secret(ChannelsConfig()) not in (OLD_PUBLIC_DEFAULT, "")


def test_tokens_are_unguessable_and_each_kind_answers_only_for_itself() -> None:
    now = datetime.now(UTC)
    one, two = (replies.start_token(7, "s" * 32, now) for _ in range(2))
    assert one != two  # a random nonce in each: knowing the delivery id computes nothing
    assert replies.start_delivery(one, "s" * 32, now) == replies.start_delivery(two, "s" * 32, now) == 7
    assert replies.pressed(f"{one}:0", "s" * 32, now) is None  # a deep link is no button
    button = replies.button_data(7, 0, "s" * 32, now + timedelta(hours=1))
    assert replies.pressed(button, "s" * 32, now) == (7, 0)
    assert replies.pressed(button, "s" * 32, now + timedelta(hours=2)) is None  # the visit is over
    assert replies.start_delivery(one, "s" * 32, now + replies.START_TTL + timedelta(minutes=1)) is None


async def test_a_token_forged_with_the_old_public_default_links_nothing(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> None:
    # The product's default configuration: no NUDGEFLOW_REPLY_SECRET given.
    async with desk_with(time_env, fakes, task_queue, tmp_path, reply_secret=None) as desk:
        row = await confirmed(desk, "t-1", "p-forged")
        later = datetime.now(UTC) + timedelta(days=1)
        for forged in (
            old_style_token(row.id, OLD_PUBLIC_DEFAULT),
            replies.start_token(row.id, OLD_PUBLIC_DEFAULT, datetime.now(UTC)),
        ):
            assert await start(desk, "66601", forged) == {}
        assert await linked_chat(desk, "p-forged") is None
        press = replies.button_data(row.id, 1, OLD_PUBLIC_DEFAULT, later)
        answer = await desk.api.post(
            "/v1/inbound/telegram", json=telegram.callback_update("66601", press), headers=TELEGRAM_SECRET
        )
        assert answer.json()["text"] == "This button has expired."


async def test_an_expired_deep_link_links_nothing(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> None:
    async with desk_with(time_env, fakes, task_queue, tmp_path) as desk:
        row = await confirmed(desk, "t-2", "p-expired")
        stale = replies.start_token(row.id, "test-reply-secret", datetime.now(UTC) - timedelta(days=31))
        assert await start(desk, "66602", stale) == {}
        assert await linked_chat(desk, "p-expired") is None


async def test_a_second_chat_with_the_same_link_does_not_take_the_contact_over(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> None:
    async with desk_with(time_env, fakes, task_queue, tmp_path) as desk:
        row = await confirmed(desk, "t-3", "p-owner")
        token = replies.start_token(row.id, "test-reply-secret", datetime.now(UTC))
        assert "Telegram" in (await start(desk, "66603", token))["text"]  # the welcome
        stolen = await start(desk, "66604", token)
        assert stolen["chat_id"] == "66604" and "already used" in stolen["text"]
        assert await linked_chat(desk, "p-owner") == "66603"
        assert "Telegram" in (await start(desk, "66603", token))["text"]  # the owner again: still fine


async def test_a_button_pressed_in_a_chat_the_message_was_not_sent_to_is_refused(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> None:
    async with desk_with(time_env, fakes, task_queue, tmp_path) as desk:
        _, buttons = await reminder_with_buttons(desk, fakes, "t-4")
        elsewhere = await desk.api.post(
            "/v1/inbound/telegram",
            json=telegram.callback_update("66605", buttons[1]),
            headers=TELEGRAM_SECRET,
        )
        assert elsewhere.json()["text"] == "This button has expired."
        await desk.clinic.settle("t-4")
        assert (await desk.clinic.state("t-4")).view.attendance is None  # type: ignore[union-attr]
