"""Inbound CloudEvents, remembered by (tenant, source, id) so a redelivered event is seen once.

A claimed event stays `received`, with its payload, until the relay has delivered it to its
workflow (`routed`) or found that workflow's lifecycle over (`ignored`): the table is the outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.records import EventStatus, InboundEventKey, PendingEvent
from store.tables import InboundEventRow, insert_for, utcnow

EventKey = tuple[str, str]
SETTLED = frozenset({EventStatus.ROUTED, EventStatus.IGNORED})


def _matching(tenant: str, keys: Sequence[EventKey]) -> list[ColumnElement[bool]]:
    return [
        InboundEventRow.tenant == tenant,
        tuple_(InboundEventRow.source, InboundEventRow.event_id).in_(list(keys)),
    ]


async def claim_events(
    session: AsyncSession, tenant: str, events: Sequence[InboundEventKey]
) -> dict[EventKey, str]:
    unique = {(event.source, event.event_id): event for event in events}
    if not unique:
        return {}
    now = utcnow()
    rows = [
        {**event.model_dump(), "tenant": tenant, "status": _arrival(event).value, "received_at": now}
        for event in unique.values()
    ]
    # Insert first and let the unique constraint decide: a concurrent claim of the same event
    # either waits for ours or makes ours a no-op, so exactly one caller ever sees 'new'.
    insert = insert_for(session, InboundEventRow)
    inserted = await session.execute(
        insert.on_conflict_do_nothing(index_elements=["tenant", "source", "event_id"]).returning(
            InboundEventRow.source, InboundEventRow.event_id
        ),
        rows,
    )
    statuses: dict[EventKey, str] = {(source, event_id): EventStatus.NEW for source, event_id in inserted}
    seen = [key for key in unique if key not in statuses]
    if seen:
        found = await session.execute(
            select(InboundEventRow.source, InboundEventRow.event_id, InboundEventRow.status).where(
                *_matching(tenant, seen)
            )
        )
        statuses.update({(source, event_id): EventStatus(status) for source, event_id, status in found})
    return {key: statuses.get(key, EventStatus.RECEIVED) for key in unique}


def _arrival(event: InboundEventKey) -> EventStatus:
    # An event with nothing to deliver (a contact update) is settled as soon as it is stored.
    return EventStatus.RECEIVED if event.payload is not None else EventStatus.ROUTED


async def mark_events(session: AsyncSession, tenant: str, keys: Sequence[EventKey], status: str) -> None:
    settled = EventStatus(status)
    if settled not in SETTLED:
        raise ValueError(f"events can be marked routed or ignored, not {status!r}")
    if keys:
        await session.execute(
            update(InboundEventRow)
            .where(*_matching(tenant, keys))
            .values(status=settled.value, routed_at=utcnow())
        )


async def pending_events(session: AsyncSession, received_before: datetime, limit: int) -> list[PendingEvent]:
    """Events accepted before `received_before` and not yet delivered, oldest first."""
    rows = await session.execute(
        select(
            InboundEventRow.tenant,
            InboundEventRow.source,
            InboundEventRow.event_id,
            InboundEventRow.workflow_id,
            InboundEventRow.payload,
        )
        .where(
            InboundEventRow.status == EventStatus.RECEIVED.value,
            InboundEventRow.payload.is_not(None),
            InboundEventRow.workflow_id.is_not(None),
            InboundEventRow.received_at < received_before,
        )
        .order_by(InboundEventRow.id)
        .limit(limit)
    )
    return [
        PendingEvent(tenant=tenant, source=source, event_id=event_id, workflow_id=wf, payload=payload)
        for tenant, source, event_id, wf, payload in rows
    ]
