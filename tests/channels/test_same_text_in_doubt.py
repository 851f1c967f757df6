"""A retry asks the provider about a message in doubt while another message with the same text to
the same number is on its way: counted at fake Twilio, which keeps no reference of ours.

Two reminders that read alike, or two children's notes on one parent's phone, are told apart only by
which delivery records which of the provider's messages. A retry must not take for its own a message
another attempt has just sent and not recorded yet.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import update
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.models import SendMessageInput, SendMessageResult
from activities.send import NudgeActivities, draft, idempotency_key
from channels.registry import build_adapters, close_adapters
from domain.contacts import Contact
from domain.deliveries import Delivery, DeliveryOutcome, DeliveryStatus
from domain.events import Notification
from domain.planning import MessageFacts, PlannedMessage
from i18n import TemplateRenderer
from store import Store
from store.tables import DeliveryRow
from tests.channels.conftest import HANG, Fakes
from tests.store.backends import database_url

TENANT = "clinic-same-text"
_numbers = itertools.count(800)


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    # SQLite only: the send path's decision is the subject, the queries run on both in tests/store.
    opened = Store(database_url("sqlite", tmp_path))
    yield opened
    await opened.close()


@asynccontextmanager
async def worker(store: Store, fakes: Fakes, **config: Any) -> AsyncIterator[NudgeActivities]:
    """The send activity as a worker holds it, its adapters at the fakes."""
    adapters = build_adapters(fakes.config(**config))
    try:
        yield NudgeActivities(store, TemplateRenderer(), adapters)
    finally:
        await close_adapters(adapters)


def note(phone: str, step: str) -> SendMessageInput:
    """A manager's note to a patient's number: two of them read alike."""
    patient = Contact(id=f"p-{phone}", name="Анна", locale="ru", timezone="Europe/Moscow", phone=phone)
    notification = Notification(
        notification_id=step,
        contact=patient,
        template="manager_note",
        data={"note": "Перезвоните нам, пожалуйста"},
        category="transactional",
    )
    return SendMessageInput(
        tenant=TENANT,
        workflow_id=f"notification:{TENANT}:{phone}",
        subject=f"notification:{phone}",
        message=PlannedMessage(
            step=step,
            template="manager_note",
            audience="patient",
            recipient=patient,
            send_at=datetime.now(UTC),
            facts=MessageFacts(),
        ),
        notification=notification,
        default_locale="ru",
    )


async def attempt(activities: NudgeActivities, input: SendMessageInput) -> SendMessageResult:
    """One activity attempt, as a worker runs it (30 s to go)."""
    environment = ActivityEnvironment()
    now = datetime.now(UTC)
    environment.info = dataclasses.replace(
        environment.info,
        started_time=now,
        current_attempt_scheduled_time=now,
        start_to_close_timeout=timedelta(seconds=30),
        schedule_to_close_timeout=timedelta(minutes=5),
    )
    result: SendMessageResult = await environment.run(activities.send_message, input)
    return result


async def until_done(activities: NudgeActivities, input: SendMessageInput) -> SendMessageResult:
    """Attempts until one has an outcome, each after the pause the last one asked for."""
    for _ in range(30):
        try:
            return await attempt(activities, input)
        except ApplicationError as retry:
            await asyncio.sleep((retry.next_retry_delay or timedelta(seconds=0.5)).total_seconds())
    raise AssertionError(f"{input.message.step} never had an outcome")


async def row_of(store: Store, input: SendMessageInput) -> Delivery:
    found = await store.delivery_by_key(idempotency_key(input))
    assert found is not None
    return found


def at_twilio(fakes: Fakes, phone: str) -> list[dict[str, Any]]:
    """What Twilio took for this number: what the patient got."""
    return [request for request in fakes.twilio.sent() if request["to"] == phone]


async def assert_two_at_twilio_each_recorded_once(
    fakes: Fakes, store: Store, phone: str, *inputs: SendMessageInput
) -> None:
    """The patient got both notes, and each row records its own message of the two."""
    assert len(at_twilio(fakes, phone)) == 2
    rows = [await row_of(store, input) for input in inputs]
    assert rows[0].provider_message_id != rows[1].provider_message_id


async def claimed_by_a_dead_worker(store: Store, input: SendMessageInput, body: str) -> None:
    """The row an attempt left `sending` when its worker died: claimed, its attempt long over."""
    claim = DeliveryOutcome(
        status=DeliveryStatus.SENDING,
        channel="sms",
        provider="twilio",
        body=body,
        sending_until=datetime.now(UTC) - timedelta(seconds=1),
    )
    _, written = await store.begin_delivery(draft(input), claim)
    assert written


async def test_a_retry_waits_for_a_message_with_the_same_text_still_being_recorded(
    fakes: Fakes, store: Store
) -> None:
    phone = f"+1202555{next(_numbers):04d}"
    first, second = note(phone, "note-1"), note(phone, "note-2")
    # Given the second note on its way: Twilio has taken it and answers only after 2 s
    fakes.twilio.plan(phone, "accept_hang")
    async with worker(store, fakes, channel_timeout=HANG * 3) as patient:
        on_its_way = asyncio.create_task(attempt(patient, second))
        for _ in range(100):  # until Twilio has it
            if at_twilio(fakes, phone):
                break
            await asyncio.sleep(0.05)
        body = (await row_of(store, second)).body
        assert body is not None
        # and the first, with the same text, left `sending` by a worker that died before calling
        await claimed_by_a_dead_worker(store, first, body)
        # When the first is retried while the second's answer is still on its way, and again after
        outcome = await until_done(patient, first)
        recorded = await on_its_way
    # Then the patient got both notes, and each row records its own message
    assert outcome.status == recorded.status == "sent"
    await assert_two_at_twilio_each_recorded_once(fakes, store, phone, first, second)


async def test_two_in_doubt_with_the_same_text_one_of_which_went_reach_the_patient_twice(
    fakes: Fakes, store: Store
) -> None:
    phone = f"+1202555{next(_numbers):04d}"
    first, second = note(phone, "note-1"), note(phone, "note-2")
    # Given the first note taken by Twilio, which answered after our 0.5 s: in doubt
    fakes.twilio.plan(phone, "accept_hang")
    async with worker(store, fakes) as patient:
        with pytest.raises(ApplicationError):
            await attempt(patient, first)
        body = (await row_of(store, first)).body
        assert body is not None
        # and the second, with the same text, left `sending` by a worker that died before calling
        await claimed_by_a_dead_worker(store, second, body)
        # When both are retried together
        outcomes = await asyncio.gather(until_done(patient, second), until_done(patient, first))
    # Then Twilio has two: the one that went is recorded once, the other went again
    assert [outcome.status for outcome in outcomes] == ["sent", "sent"]
    await assert_two_at_twilio_each_recorded_once(fakes, store, phone, first, second)


async def test_rows_in_doubt_claimed_minutes_apart_both_find_what_went(fakes: Fakes, store: Store) -> None:
    phone = f"+1202555{next(_numbers):04d}"
    first, second = note(phone, "note-1"), note(phone, "note-2")
    async with worker(store, fakes) as patient:
        # Given both notes taken by Twilio, which answered each after our 0.5 s: both in doubt
        for input in (first, second):
            fakes.twilio.plan(phone, "accept_hang")
            with pytest.raises(ApplicationError):
                await attempt(patient, input)
        # and the first of them claimed and taken three minutes before the second
        earlier = datetime.now(UTC) - timedelta(minutes=3)
        oldest = min((m for m in fakes.twilio.messages if m["to"] == phone), key=lambda m: m["sid"])
        oldest["date_created"] = format_datetime(earlier, usegmt=True)
        async with store.engine.begin() as connection:
            claimed_first = DeliveryRow.id == (await row_of(store, first)).id
            await connection.execute(update(DeliveryRow).where(claimed_first).values(updated_at=earlier))
        # When the second is retried first, the first still in doubt, and then the first
        outcomes = [await until_done(patient, second), await until_done(patient, first)]
    # Then each row found its own, and nothing went a third time
    assert [outcome.status for outcome in outcomes] == ["sent", "sent"]
    await assert_two_at_twilio_each_recorded_once(fakes, store, phone, first, second)
