"""The staff work queues: what waits for a person, and who acknowledged it.

- `delivery`: messages that failed or whose outcome is `unknown` (the provider may or may not have
  sent them), keyed by delivery id;
- `booking`: online bookings (`appointment.requested`) nobody confirmed, rejected or cancelled yet,
  keyed by workflow id, each with its confirmation deadline;
- `rating`: feedback at or below the tenant's low-rating threshold, keyed by the event's row id;
- `reply`: free-text replies no rule understood (`intent = unknown`), keyed by the reply's row id.

Bookings and ratings are read from the stored inbound events, so they need no table of their own;
an acknowledgement hides an item from its queue and records who dealt with it and when.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import String, and_, cast, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from store.consent import InboundReply
from store.console import LogEntry, entries_query, to_entry
from store.tables import AcknowledgementRow, DeliveryRow, InboundEventRow, InboundReplyRow, insert_for, utcnow

QUEUES = ("delivery", "booking", "rating", "reply")
NEEDS_A_PERSON = ("failed", "unknown")
# A booking is settled by any of these; until then it waits for staff.
BOOKING_SETTLED = (
    "appointment.confirmed",
    "appointment.rejected",
    "appointment.cancelled",
    "appointment.completed",
    "appointment.no_show",
)
LOOK_BACK = timedelta(days=30)
LIMIT = 100  # a screenful and more: a queue longer than this is read from the top anyway


class WaitingBooking(BaseModel):
    workflow_id: str
    appointment_id: str
    patient_name: str = ""
    patient_phone: str = ""
    starts_at: datetime | None = None
    requested_at: datetime
    deadline: datetime


class LowRating(BaseModel):
    item: str
    subject_kind: str
    subject_id: str
    rating: int
    comment: str = ""
    at: datetime


class Acknowledgement(BaseModel):
    queue: str
    item: str
    by: str
    at: datetime


def _moment(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _not_acknowledged(tenant: str, queue: str, item: Any) -> Any:
    acknowledged = select(AcknowledgementRow.id).where(
        AcknowledgementRow.tenant == tenant,
        AcknowledgementRow.queue == queue,
        AcknowledgementRow.item == item,
    )
    return ~acknowledged.exists()


async def failed_deliveries(session: AsyncSession, tenant: str) -> list[LogEntry]:
    # The newest ids first, then their rows with the contact: joining every failed message of the
    # log to its contact before the limit cost SQLite more than the rest of the page.
    newest = (
        select(DeliveryRow.id)
        .where(DeliveryRow.tenant == tenant, DeliveryRow.status.in_(NEEDS_A_PERSON))
        .where(_not_acknowledged(tenant, "delivery", cast(DeliveryRow.id, String)))
        .order_by(DeliveryRow.created_at.desc(), DeliveryRow.id.desc())
        .limit(LIMIT)
    )
    query = (
        entries_query(tenant)
        .where(DeliveryRow.id.in_(newest.scalar_subquery()))
        .order_by(DeliveryRow.created_at.desc(), DeliveryRow.id.desc())
    )
    return [to_entry(row) for row in await session.execute(query)]


async def waiting_bookings(
    session: AsyncSession, tenant: str, sla: timedelta, now: datetime
) -> list[WaitingBooking]:
    """Requested, not yet settled, not acknowledged; the oldest (most overdue) first."""
    requested = InboundEventRow.__table__.alias("requested")
    settled = select(InboundEventRow.id).where(
        and_(
            InboundEventRow.tenant == tenant,
            InboundEventRow.workflow_id == requested.c.workflow_id,
            InboundEventRow.type.in_(BOOKING_SETTLED),
        )
    )
    query = (
        select(requested.c.workflow_id, requested.c.received_at, requested.c.payload)
        .where(
            requested.c.tenant == tenant,
            requested.c.type == "appointment.requested",
            requested.c.received_at >= now - LOOK_BACK,
            ~settled.exists(),
            _not_acknowledged(tenant, "booking", requested.c.workflow_id),
        )
        .order_by(requested.c.received_at)
        .limit(LIMIT)
    )
    found: dict[str, WaitingBooking] = {}
    for workflow_id, received_at, payload in await session.execute(query):
        if workflow_id is None or workflow_id in found:
            continue  # a second request for one appointment keeps the first one's deadline
        data = (payload or {}).get("data") or {}
        patient = data.get("patient") or {}
        found[workflow_id] = WaitingBooking(
            workflow_id=workflow_id,
            appointment_id=workflow_id.split(":", 2)[-1],
            patient_name=patient.get("name") or "",
            patient_phone=patient.get("phone") or "",
            starts_at=_moment(data.get("starts_at")),
            requested_at=received_at,
            deadline=received_at + sla,
        )
    return list(found.values())


async def low_ratings(session: AsyncSession, tenant: str, threshold: int, now: datetime) -> list[LowRating]:
    query = (
        select(InboundEventRow.id, InboundEventRow.received_at, InboundEventRow.payload)
        .where(
            InboundEventRow.tenant == tenant,
            InboundEventRow.type == "feedback.submitted",
            InboundEventRow.received_at >= now - LOOK_BACK,
            _not_acknowledged(tenant, "rating", cast(InboundEventRow.id, String)),
        )
        .order_by(InboundEventRow.received_at.desc())
        .limit(LIMIT * 5)
    )
    found = []
    for row_id, received_at, payload in await session.execute(query):
        data = (payload or {}).get("data") or {}
        rating = data.get("rating")
        if not isinstance(rating, int) or rating > threshold:
            continue
        found.append(
            LowRating(
                item=str(row_id),
                subject_kind=str(data.get("subject_kind") or "appointment"),
                subject_id=str(data.get("subject_id") or ""),
                rating=rating,
                comment=str(data.get("comment") or ""),
                at=received_at,
            )
        )
    return found[:LIMIT]


async def unknown_replies(session: AsyncSession, tenant: str, now: datetime) -> list[InboundReply]:
    query = (
        select(InboundReplyRow)
        .where(
            InboundReplyRow.tenant == tenant,
            InboundReplyRow.intent == "unknown",
            InboundReplyRow.at >= now - LOOK_BACK,
            _not_acknowledged(tenant, "reply", cast(InboundReplyRow.id, String)),
        )
        .order_by(InboundReplyRow.at.desc(), InboundReplyRow.id.desc())
        .limit(LIMIT)
    )
    rows = (await session.execute(query)).scalars()
    return [InboundReply.model_validate(row, from_attributes=True) for row in rows]


async def acknowledge(session: AsyncSession, tenant: str, queue: str, item: str, by: str) -> None:
    """Once per item: a second acknowledgement (two people at once) keeps the first one's name."""
    insert = insert_for(session, AcknowledgementRow).values(
        tenant=tenant, queue=queue, item=item, by=by, at=utcnow()
    )
    await session.execute(insert.on_conflict_do_nothing(index_elements=["tenant", "queue", "item"]))


async def recent_acknowledgements(
    session: AsyncSession, tenant: str, limit: int = 20
) -> list[Acknowledgement]:
    query = (
        select(AcknowledgementRow)
        .where(AcknowledgementRow.tenant == tenant)
        .order_by(AcknowledgementRow.at.desc(), AcknowledgementRow.id.desc())
        .limit(limit)
    )
    return [
        Acknowledgement.model_validate(row, from_attributes=True)
        for row in (await session.execute(query)).scalars()
    ]


class Queues:
    """The work queues over the store's engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def failed_deliveries(self, tenant: str) -> list[LogEntry]:
        async with self._sessions() as session:
            return await failed_deliveries(session, tenant)

    async def waiting_bookings(self, tenant: str, sla: timedelta, now: datetime) -> list[WaitingBooking]:
        async with self._sessions() as session:
            return await waiting_bookings(session, tenant, sla, now)

    async def low_ratings(self, tenant: str, threshold: int, now: datetime) -> list[LowRating]:
        async with self._sessions() as session:
            return await low_ratings(session, tenant, threshold, now)

    async def unknown_replies(self, tenant: str, now: datetime) -> list[InboundReply]:
        async with self._sessions() as session:
            return await unknown_replies(session, tenant, now)

    async def acknowledge(self, tenant: str, queue: str, item: str, by: str) -> None:
        async with self._sessions.begin() as session:
            await acknowledge(session, tenant, queue, item, by)

    async def recent_acknowledgements(self, tenant: str) -> list[Acknowledgement]:
        async with self._sessions() as session:
            return await recent_acknowledgements(session, tenant)
