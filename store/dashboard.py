"""The dashboard's figures, counted by the database: messages and cost per clinic day, channel and
status; failures per provider; reminder lateness; confirmation and attendance rates."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from store.tables import DeliveryRow, InboundEventRow

LATENESS_SAMPLE = 10_000


class DayCount(BaseModel):
    day: date
    channel: str
    status: str
    messages: int
    cost: float


class Figures(BaseModel):
    days: list[DayCount]
    failures_by_provider: dict[str, int]
    lateness_p50: float | None = None
    lateness_p99: float | None = None
    reminders_measured: int = 0
    events: dict[str, int]
    # Online bookings of the period, and how many of them staff confirmed.
    requested: int = 0
    requested_confirmed: int = 0


def _clinic_day(session: AsyncSession, zone: str, since: datetime) -> Any:
    """The clinic's calendar day of a delivery, computed in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(zone, DeliveryRow.created_at))
    # SQLite has no zone database: shift by the zone's offset at the start of the period.
    offset = ZoneInfo(zone).utcoffset(since.replace(tzinfo=None)) or timedelta(0)
    return func.date(DeliveryRow.created_at, f"{int(offset.total_seconds() // 60):+d} minutes")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def figures(session: AsyncSession, tenant: str, zone: str, since: datetime) -> Figures:
    day = _clinic_day(session, zone, since).label("day")
    grouped = (
        select(
            day,
            func.coalesce(DeliveryRow.channel, "—"),
            DeliveryRow.status,
            func.count(),
            func.coalesce(func.sum(DeliveryRow.cost), 0.0),
        )
        .where(DeliveryRow.tenant == tenant, DeliveryRow.created_at >= since)
        .group_by(day, DeliveryRow.channel, DeliveryRow.status)
    )
    days = [
        DayCount(
            day=d if isinstance(d, date) else date.fromisoformat(str(d)),
            channel=channel,
            status=status,
            messages=n,
            cost=float(cost),
        )
        for d, channel, status, n, cost in await session.execute(grouped)
    ]
    by_provider = (
        select(func.coalesce(DeliveryRow.provider, "—"), func.count())
        .where(
            DeliveryRow.tenant == tenant,
            DeliveryRow.created_at >= since,
            DeliveryRow.status.in_(("failed", "unknown")),
        )
        .group_by(DeliveryRow.provider)
    )
    failures_by_provider = {provider: n for provider, n in await session.execute(by_provider)}
    seconds: ColumnElement[Any]
    if session.get_bind().dialect.name == "postgresql":
        seconds = func.extract("epoch", DeliveryRow.sent_at - DeliveryRow.scheduled_for)
    else:
        seconds = (func.julianday(DeliveryRow.sent_at) - func.julianday(DeliveryRow.scheduled_for)) * 86400.0
    # The newest reminders of the period, as seconds computed by the database: no datetimes parsed here.
    late = (
        select(seconds)
        .where(
            DeliveryRow.tenant == tenant,
            DeliveryRow.created_at >= since,
            DeliveryRow.step.like("reminder-%"),
            DeliveryRow.sent_at.is_not(None),
        )
        .order_by(DeliveryRow.created_at.desc())
        .limit(LATENESS_SAMPLE)
    )
    lateness = [
        max(0.0, float(value)) for value in (await session.execute(late)).scalars() if value is not None
    ]
    counted = (
        select(InboundEventRow.type, func.count())
        .where(InboundEventRow.tenant == tenant, InboundEventRow.received_at >= since)
        .group_by(InboundEventRow.type)
    )
    requested = InboundEventRow.__table__.alias("requested")
    confirmed = select(InboundEventRow.id).where(
        InboundEventRow.tenant == tenant,
        InboundEventRow.workflow_id == requested.c.workflow_id,
        InboundEventRow.type == "appointment.confirmed",
    )
    bookings = select(
        func.count(func.distinct(requested.c.workflow_id)),
        func.count(func.distinct(requested.c.workflow_id)).filter(confirmed.exists()),
    ).where(
        requested.c.tenant == tenant,
        requested.c.type == "appointment.requested",
        requested.c.received_at >= since,
    )
    booked, booked_confirmed = (await session.execute(bookings)).one()
    return Figures(
        requested=booked,
        requested_confirmed=booked_confirmed,
        days=days,
        failures_by_provider=failures_by_provider,
        lateness_p50=percentile(lateness, 0.5) if lateness else None,
        lateness_p99=percentile(lateness, 0.99) if lateness else None,
        reminders_measured=len(lateness),
        events={kind: n for kind, n in await session.execute(counted)},
    )


class Dashboard:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def figures(self, tenant: str, zone: str, since: datetime) -> Figures:
        async with self._sessions() as session:
            return await figures(session, tenant, zone, since)
