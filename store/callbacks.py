"""Provider status callbacks and what the engine learns about a contact's channels."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.consent import with_consent
from domain.contacts import Channel, Contact
from domain.deliveries import Delivery, DeliveryStatus
from store.consent import consents
from store.records import to_delivery
from store.tables import (
    ContactChannelRow,
    ContactRow,
    DeliveryEventRow,
    DeliveryRow,
    core,
    insert_for,
    utcnow,
)

# Read on every send: built once on the Core tables, run with the tenant and the contact's id.
CONTACTS = core(ContactRow)
CHANNELS = core(ContactChannelRow)
_OF_CONTACT = CHANNELS.c.tenant == bindparam("tenant"), CHANNELS.c.contact_id == bindparam("contact_id")
CONTACT_FOR_SENDING = select(
    select(CONTACTS.c.data)
    .where(CONTACTS.c.tenant == bindparam("tenant"), CONTACTS.c.id == bindparam("contact_id"))
    .scalar_subquery(),
    *(
        select(column).where(*_OF_CONTACT).scalar_subquery()
        for column in (
            CHANNELS.c.telegram_chat_id,
            CHANNELS.c.whatsapp_window_until,
            CHANNELS.c.dead_addresses,
            CHANNELS.c.telegram_offered_at,
        )
    ),
)
# A later callback never moves a delivery backwards: `read` may come before `delivered`.
PROGRESS = {DeliveryStatus.SENT: 1, DeliveryStatus.DELIVERED: 2, DeliveryStatus.READ: 3}


class DeliveryEvent(BaseModel):
    """One status callback as recorded."""

    id: int
    delivery_id: int | None = None
    provider: str
    provider_message_id: str
    status: str
    detail: str | None = None
    cost: float | None = None
    at: datetime


class ContactChannels(BaseModel):
    telegram_chat_id: str | None = None
    whatsapp_window_until: datetime | None = None
    dead_addresses: list[str] = Field(default_factory=list)


def _next_status(current: DeliveryStatus, reported: DeliveryStatus) -> DeliveryStatus:
    if reported == DeliveryStatus.FAILED:
        # A failure after `sent` is the provider's final word; after `delivered` it is noise.
        return reported if current == DeliveryStatus.SENT else current
    if current in PROGRESS and PROGRESS.get(reported, 0) > PROGRESS[current]:
        return reported
    return current


async def record_status(
    session: AsyncSession,
    provider: str,
    provider_message_id: str,
    status: DeliveryStatus,
    *,
    detail: str | None = None,
    cost: float | None = None,
    at: datetime | None = None,
) -> Delivery | None:
    """Record a callback once per (provider, message id, status); move its delivery forward."""
    row = (
        await session.execute(
            select(DeliveryRow)
            .where(DeliveryRow.provider_message_id == provider_message_id, DeliveryRow.provider == provider)
            .with_for_update()
        )
    ).scalar_one_or_none()
    insert = insert_for(session, DeliveryEventRow).values(
        delivery_id=row.id if row else None,
        provider=provider,
        provider_message_id=provider_message_id,
        status=status.value,
        detail=detail,
        cost=cost,
        at=at or utcnow(),
    )
    inserted = await session.execute(
        insert.on_conflict_do_nothing(index_elements=["provider", "provider_message_id", "status"]).returning(
            DeliveryEventRow.id
        )
    )
    if row is None or inserted.scalar_one_or_none() is None:
        return None if row is None else to_delivery(row)
    new = _next_status(DeliveryStatus(row.status), status)
    if new != row.status:
        row.status = new.value
        if new == DeliveryStatus.FAILED:
            row.reason = f"{provider}: {detail or 'failed after it was sent'}"
        row.updated_at = utcnow()
    await session.flush()
    return to_delivery(row)


async def list_events(session: AsyncSession, delivery_id: int) -> list[DeliveryEvent]:
    query = select(DeliveryEventRow).where(DeliveryEventRow.delivery_id == delivery_id)
    rows = (await session.execute(query.order_by(DeliveryEventRow.id))).scalars()
    return [DeliveryEvent.model_validate(row, from_attributes=True) for row in rows]


async def _channels_row(session: AsyncSession, tenant: str, contact_id: str) -> ContactChannelRow:
    insert = insert_for(session, ContactChannelRow).values(
        tenant=tenant, contact_id=contact_id, dead_addresses=[], updated_at=utcnow()
    )
    await session.execute(insert.on_conflict_do_nothing(index_elements=["tenant", "contact_id"]))
    query = select(ContactChannelRow).where(
        ContactChannelRow.tenant == tenant, ContactChannelRow.contact_id == contact_id
    )
    return (await session.execute(query.with_for_update())).scalar_one()


async def link_telegram(session: AsyncSession, tenant: str, contact_id: str, chat_id: str) -> None:
    row = await _channels_row(session, tenant, contact_id)
    row.telegram_chat_id = chat_id
    # A chat that pressed Start again is alive again.
    row.dead_addresses = [a for a in row.dead_addresses if a != f"telegram:{chat_id}"]
    row.updated_at = utcnow()


async def bind_telegram(session: AsyncSession, tenant: str, contact_id: str, chat_id: str) -> bool:
    """Link the chat unless the contact already has another live one; True when it is theirs now.

    A reply token can leak (a forwarded SMS, a shared screen): presenting it from a second chat must
    not take the patient's messages away from the first. Only a chat the bot can no longer reach
    (blocked, deleted account) may be replaced, the way a patient moves to a new Telegram account.
    """
    row = await _channels_row(session, tenant, contact_id)
    stored = await session.scalar(
        select(ContactRow.data["telegram_chat_id"].as_string()).where(
            ContactRow.tenant == tenant, ContactRow.id == contact_id
        )
    )
    current = row.telegram_chat_id or stored
    if current and str(current) != chat_id and f"telegram:{current}" not in row.dead_addresses:
        return False
    await link_telegram(session, tenant, contact_id, chat_id)
    return True


async def open_whatsapp_window(session: AsyncSession, tenant: str, contact_id: str, until: datetime) -> None:
    row = await _channels_row(session, tenant, contact_id)
    if row.whatsapp_window_until is None or row.whatsapp_window_until < until:
        row.whatsapp_window_until = until
    row.updated_at = utcnow()


async def open_whatsapp_window_for_phone(session: AsyncSession, phone: str, until: datetime) -> int:
    # WhatsApp names the sender by number only; it may be a contact of several tenants.
    query = select(ContactRow.tenant, ContactRow.id).where(ContactRow.data["phone"].as_string() == phone)
    found = (await session.execute(query)).all()
    for tenant, contact_id in found:
        await open_whatsapp_window(session, tenant, contact_id, until)
    return len(found)


async def mark_dead(session: AsyncSession, tenant: str, contact_id: str, address: str) -> None:
    row = await _channels_row(session, tenant, contact_id)
    if address not in row.dead_addresses:
        row.dead_addresses = [*row.dead_addresses, address]
    row.updated_at = utcnow()


async def contact_for_sending(session: AsyncSession, tenant: str, contact: Contact) -> Contact:
    """The stored contact (or the given one) with what providers and the consent ledger told us."""
    found, _ = await contact_and_offer(session, tenant, contact)
    return found


async def contact_and_offer(
    session: AsyncSession, tenant: str, contact: Contact
) -> tuple[Contact, datetime | None]:
    """`contact_for_sending`, and when the contact was offered the Telegram bot (None: never)."""
    stored, chat_id, window, dead, offered_at = (
        await session.execute(CONTACT_FOR_SENDING, {"tenant": tenant, "contact_id": contact.id})
    ).one()
    learned = ContactChannels(
        telegram_chat_id=chat_id, whatsapp_window_until=window, dead_addresses=dead or []
    )
    found = with_channels(contact if stored is None else Contact.model_validate(stored), learned)
    # The consent ledger's latest word per channel and category (domain/consent.py).
    ledger = await consents(session, tenant, contact.id)
    return with_consent(ledger, found), offered_at


def with_channels(contact: Contact, learned: ContactChannels) -> Contact:
    """The contact as the router sees it: the backend's copy plus what providers told us.

    A chat the patient linked themselves (Start on the bot's deep link, a button pressed there) is
    their newest choice: Telegram comes first among their preferred channels from then on.
    """
    preferred = contact.preferred_channels
    if learned.telegram_chat_id and Channel.TELEGRAM not in preferred:
        preferred = [Channel.TELEGRAM, *preferred]
    return contact.model_copy(
        update={
            "preferred_channels": preferred,
            "telegram_chat_id": learned.telegram_chat_id or contact.telegram_chat_id,
            "whatsapp_window_until": learned.whatsapp_window_until or contact.whatsapp_window_until,
            "dead_addresses": sorted({*contact.dead_addresses, *learned.dead_addresses}),
        }
    )
