"""What the cost report reads: messages that left per day, channel, provider and SMS gateway.

Counted by the database, one grouped query over the (tenant, sent_at) index: a month of a busy
clinic is a few hundred groups, not a hundred thousand rows carried to Python.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from domain.costs import SentMessages
from domain.deliveries import DeliveryStatus
from domain.routing import DEFAULT_SMS_GATEWAY, SMS_GATEWAYS
from store.tables import ContactRow, DeliveryRow

LEFT = [DeliveryStatus.SENT.value, DeliveryStatus.DELIVERED.value, DeliveryStatus.READ.value]


def midnights(start: date, end: date, timezone: str) -> list[datetime]:
    """The moments each day from `start` to the day after `end` begins in `timezone`."""
    zone = ZoneInfo(timezone)
    days = (end - start).days + 2
    return [datetime.combine(start + timedelta(days=n), time(0), tzinfo=zone) for n in range(days)]


class CostLedger:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def sent(self, tenant: str, start: date, end: date, timezone: str) -> list[SentMessages]:
        """Messages that left from `start` to `end` (both included) on the tenant's calendar."""
        bounds = midnights(start, end, timezone)
        # The day a message left, as an index from `start`: the first midnight after it, less one.
        day: Any = (
            case(
                *((DeliveryRow.sent_at < bound, n) for n, bound in enumerate(bounds[1:-1])),
                else_=len(bounds) - 2,
            )
            if len(bounds) > 2
            else literal(0)
        )
        phone = ContactRow.data["phone"].as_string()
        # E.164 country codes are prefix-free: a number's prefix names its gateway (domain/routing.py).
        gateway: Any = case(
            *((phone.startswith(f"+{code}"), name) for code, name in SMS_GATEWAYS.items()),
            (and_(phone.is_not(None), phone != ""), DEFAULT_SMS_GATEWAY),
            else_=None,
        )
        left = (
            select(
                day.label("day"),
                DeliveryRow.channel,
                DeliveryRow.provider,
                gateway.label("gateway"),
            )
            .outerjoin(ContactRow, and_(ContactRow.tenant == tenant, ContactRow.id == DeliveryRow.contact_id))
            .where(
                DeliveryRow.tenant == tenant,
                DeliveryRow.sent_at >= bounds[0],
                DeliveryRow.sent_at < bounds[-1],
                DeliveryRow.status.in_(LEFT),
            )
            .subquery()
        )
        # Grouped outside: PostgreSQL cannot tell that two CASEs with bound parameters are one.
        columns = (left.c.day, left.c.channel, left.c.provider, left.c.gateway)
        query = select(*columns, func.count()).group_by(*columns)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [
            SentMessages(
                day=start + timedelta(days=int(index)),
                channel=channel or "outbox",
                provider=provider or "outbox",
                sms_gateway=sms_gateway,
                count=int(count),
            )
            for index, channel, provider, sms_gateway, count in rows
        ]
