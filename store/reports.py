"""What the cost report reads: the messages that left in a span of time, with the contact's phone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from domain.costs import SentMessage
from domain.deliveries import DeliveryStatus
from store.tables import ContactRow, DeliveryRow

LEFT = [DeliveryStatus.SENT.value, DeliveryStatus.DELIVERED.value, DeliveryStatus.READ.value]


class CostLedger:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def sent(self, tenant: str, start: datetime, end: datetime, timezone: str) -> list[SentMessage]:
        """Messages with `start <= sent_at < end`, each on its calendar day in `timezone`."""
        zone = ZoneInfo(timezone)
        query = (
            select(
                DeliveryRow.sent_at,
                DeliveryRow.channel,
                DeliveryRow.provider,
                ContactRow.data["phone"].as_string(),
            )
            .outerjoin(ContactRow, and_(ContactRow.tenant == tenant, ContactRow.id == DeliveryRow.contact_id))
            .where(
                DeliveryRow.tenant == tenant,
                # ix_deliveries_tenant_sent_at (migration 0013)
                DeliveryRow.sent_at >= start,
                DeliveryRow.sent_at < end,
                DeliveryRow.status.in_(LEFT),
            )
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [
            SentMessage(
                day=sent_at.astimezone(zone).date(),
                channel=channel or "outbox",
                provider=provider or "outbox",
                phone=phone,
            )
            for sent_at, channel, provider, phone in rows
            if sent_at is not None
        ]
