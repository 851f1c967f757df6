"""The Telegram offer is recorded once per contact, on both stores, and another tenant's is its own.

Through the send's own calls (activities/send.py): `Store.before_sending` reads when the contact was
offered the bot, and `Store.finish_delivery(..., offered_to=...)` records the offer with the outcome.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from domain.contacts import Contact
from domain.deliveries import DeliveryDraft, DeliveryOutcome, DeliveryStatus
from store import Store
from store.tables import ContactChannelRow

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


async def offered_at(store: Store, tenant: str, contact_id: str) -> datetime | None:
    known = await store.before_sending(tenant, "visit_reminder", Contact(id=contact_id))
    return known.telegram_offered_at


async def send_with_the_link(store: Store, tenant: str, contact_id: str, step: str) -> None:
    """A message went out carrying the bot's deep link, as `SendMessage._sent` records it."""
    row, _ = await store.begin_delivery(
        DeliveryDraft(
            tenant=tenant,
            idempotency_key=f"appointment:a-1/{contact_id}/{step}",
            subject="appointment:a-1",
            workflow_id="appointment:a-1",
            step=step,
            contact_id=contact_id,
            template="visit_reminder",
            scheduled_for=NOON,
            category="reminders",
        )
    )
    outcome = DeliveryOutcome(status=DeliveryStatus.SENT, channel="sms", body="t.me/bot?start=x")
    finished = await store.finish_delivery(row.id, outcome, offered_to=(row.tenant, row.contact_id))
    assert finished.status == DeliveryStatus.SENT


async def test_an_offer_is_recorded_once_per_contact_and_tenant(store: Store) -> None:
    assert await offered_at(store, "t1", "p-1") is None

    await send_with_the_link(store, "t1", "p-1", "confirmation")
    first = await offered_at(store, "t1", "p-1")
    assert first is not None and first.tzinfo is not None
    await send_with_the_link(store, "t1", "p-1", "reminder-2h")  # a second offer changes nothing
    assert await offered_at(store, "t1", "p-1") == first
    assert await offered_at(store, "t2", "p-1") is None


async def test_recording_an_offer_keeps_what_providers_taught_us(store: Store) -> None:
    await store.upsert_contact("t1", Contact(id="p-2", phone="+447700900002"))
    await store.mark_dead_address("t1", "p-2", "telegram:42")
    await send_with_the_link(store, "t1", "p-2", "confirmation")
    async with store.engine.connect() as connection:
        dead = (await connection.execute(select(ContactChannelRow.dead_addresses))).scalar_one()
    assert dead == ["telegram:42"]
    assert await store.bind_telegram("t1", "p-2", "43")  # a dead chat may be replaced by Start
    linked = await store.contact_for_sending("t1", Contact(id="p-2"))
    assert linked.telegram_chat_id == "43" and linked.preferred_channels[0] == "telegram"
