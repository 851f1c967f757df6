"""Whether a contact was offered the Telegram bot's deep link: it is offered once per contact."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from store.tables import ContactChannelRow, insert_for, utcnow


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
