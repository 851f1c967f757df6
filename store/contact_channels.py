"""The console's view of a contact: its card, its channels, why an address is dead, clearing one, search."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.contacts import Contact
from store import tenants
from store.console import matching_contacts
from store.tables import ContactChannelRow, ContactRow, DeliveryAttemptRow, DeliveryRow, utcnow


class ContactCard(BaseModel):
    """A contact as the backend sent it, with what providers taught the engine about its channels."""

    id: str
    data: dict[str, Any]
    telegram_chat_id: str | None = None
    whatsapp_window_until: datetime | None = None
    dead_addresses: list[str] = []
    updated_at: datetime


async def contact_card(session: AsyncSession, tenant: str, contact_id: str) -> ContactCard | None:
    row = await session.get(ContactRow, (tenant, contact_id))
    if row is None:
        return None
    learned = await session.get(ContactChannelRow, (tenant, contact_id))
    return ContactCard(
        id=row.id,
        data=row.data,
        telegram_chat_id=learned.telegram_chat_id if learned else None,
        whatsapp_window_until=learned.whatsapp_window_until if learned else None,
        dead_addresses=list(learned.dead_addresses) if learned else [],
        updated_at=row.updated_at,
    )


class DeadAddress(BaseModel):
    address: str
    reason: str | None = None
    at: datetime | None = None


async def dead_addresses(session: AsyncSession, tenant: str, card: ContactCard) -> list[DeadAddress]:
    """Each dead address with the provider's words from the latest failed attempt on its channel."""
    if not card.dead_addresses:
        return []
    failed = (
        select(DeliveryAttemptRow.channel, DeliveryAttemptRow.reason, DeliveryAttemptRow.at)
        .join(DeliveryRow, DeliveryRow.id == DeliveryAttemptRow.delivery_id)
        .where(
            DeliveryRow.tenant == tenant,
            DeliveryRow.contact_id == card.id,
            DeliveryAttemptRow.status == "failed",
        )
        .order_by(DeliveryAttemptRow.at.desc())
        .limit(200)
    )
    latest: dict[str, tuple[str | None, datetime | None]] = {}
    for channel, reason, at in await session.execute(failed):
        latest.setdefault(channel or "", (reason, at))
    found = []
    for address in card.dead_addresses:
        said, when = latest.get(address.partition(":")[0], (None, None))
        found.append(DeadAddress(address=address, reason=said, at=when))
    return found


async def clear_dead_address(session: AsyncSession, tenant: str, contact_id: str, address: str) -> bool:
    """Staff say the address works again (a new SIM, the bot unblocked); False if it was not dead."""
    query = select(ContactChannelRow).where(
        ContactChannelRow.tenant == tenant, ContactChannelRow.contact_id == contact_id
    )
    row = (await session.execute(query.with_for_update())).scalar_one_or_none()
    if row is None or address not in row.dead_addresses:
        return False
    row.dead_addresses = [a for a in row.dead_addresses if a != address]
    row.updated_at = utcnow()
    return True


async def search_contacts(session: AsyncSession, tenant: str, text: str, limit: int = 50) -> list[Contact]:
    query = select(ContactRow).where(ContactRow.tenant == tenant)
    if text.strip():
        query = query.where(ContactRow.id.in_(await matching_contacts(session, tenant, text.strip())))
    query = query.order_by(ContactRow.updated_at.desc()).limit(limit)
    return [Contact.model_validate(row.data) for row in (await session.execute(query)).scalars()]


class ContactChannels:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def card(self, tenant: str, contact_id: str) -> tuple[ContactCard, list[DeadAddress]] | None:
        async with self._sessions() as session:
            card = await contact_card(session, tenant, contact_id)
            return None if card is None else (card, await dead_addresses(session, tenant, card))

    async def clear_dead_address(self, tenant: str, contact_id: str, address: str) -> bool:
        async with self._sessions.begin() as session:
            return await clear_dead_address(session, tenant, contact_id, address)

    async def search(self, tenant: str, text: str) -> list[Contact]:
        async with self._sessions() as session:
            return await search_contacts(session, tenant, text)

    async def save(self, tenant: str, contact: Contact) -> None:
        async with self._sessions.begin() as session:
            await tenants.upsert_contacts(session, tenant, [contact])
