"""Whether a contact was offered the Telegram bot's deep link: it is offered once per contact."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from store.tables import ContactChannelRow, insert_for, utcnow


class TelegramOffers:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def offered_at(self, tenant: str, contact_id: str) -> datetime | None:
        query = select(ContactChannelRow.telegram_offered_at).where(
            ContactChannelRow.tenant == tenant, ContactChannelRow.contact_id == contact_id
        )
        async with self._sessions() as session:
            found: datetime | None = await session.scalar(query)
            return found

    async def record(self, tenant: str, contact_id: str) -> bool:
        """The link went out; True the first time (a later offer records nothing)."""
        async with self._sessions.begin() as session:
            return await record_offer(session, tenant, contact_id)


async def record_offer(session: AsyncSession, tenant: str, contact_id: str) -> bool:
    """In the caller's transaction (the send records it with the delivery's outcome)."""
    row = insert_for(session, ContactChannelRow).values(
        tenant=tenant, contact_id=contact_id, dead_addresses=[], updated_at=utcnow()
    )
    await session.execute(row.on_conflict_do_nothing(index_elements=["tenant", "contact_id"]))
    moved = await session.execute(
        update(ContactChannelRow)
        .where(
            ContactChannelRow.tenant == tenant,
            ContactChannelRow.contact_id == contact_id,
            ContactChannelRow.telegram_offered_at.is_(None),
        )
        .values(telegram_offered_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(moved, "rowcount", 0))
