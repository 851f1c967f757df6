"""The Telegram offer is recorded once per contact, on both stores, and another tenant's is its own."""

from __future__ import annotations

from sqlalchemy import select

from domain.contacts import Contact
from store import Store
from store.tables import ContactChannelRow
from store.telegram_offers import TelegramOffers


async def test_an_offer_is_recorded_once_per_contact_and_tenant(store: Store) -> None:
    offers = TelegramOffers(store.engine)
    assert await offers.offered_at("t1", "p-1") is None

    assert await offers.record("t1", "p-1") is True
    first = await offers.offered_at("t1", "p-1")
    assert first is not None and first.tzinfo is not None
    assert await offers.record("t1", "p-1") is False  # a second offer changes nothing
    assert await offers.offered_at("t1", "p-1") == first
    assert await offers.offered_at("t2", "p-1") is None


async def test_recording_an_offer_keeps_what_providers_taught_us(store: Store) -> None:
    await store.upsert_contact("t1", Contact(id="p-2", phone="+447700900002"))
    await store.mark_dead_address("t1", "p-2", "telegram:42")
    await TelegramOffers(store.engine).record("t1", "p-2")
    async with store.engine.connect() as connection:
        dead = (await connection.execute(select(ContactChannelRow.dead_addresses))).scalar_one()
    assert dead == ["telegram:42"]
    assert await store.bind_telegram("t1", "p-2", "43")  # a dead chat may be replaced by Start
    linked = await store.contact_for_sending("t1", Contact(id="p-2"))
    assert linked.telegram_chat_id == "43" and linked.preferred_channels[0] == "telegram"
