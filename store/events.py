"""Inbound CloudEvents, remembered by (tenant, source, id) so a redelivered event is seen once.

A claimed event stays `received`, with its payload, until the relay has delivered it to its
workflow (`routed`), found that workflow's lifecycle over (`ignored`), or seen Temporal refuse it
too often (`dead`): the table is the outbox.

A relay delivers only events it holds a lease on (`leased_by`, `lease_until`). Leases are taken
and renewed by single UPDATE statements whose WHERE says "free or expired", so of two API
processes taking the same rows at once, each row goes to one: SQLite runs one writer at a time,
and PostgreSQL re-checks the WHERE of a row another transaction just updated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.contacts import Contact
from store.records import DeadEvent, EventStatus, InboundEventKey, Lease, PendingEvent
from store.tables import InboundEventRow, insert_for, utcnow

EventKey = tuple[str, str]
TenantEventKey = tuple[str, str, str]
SETTLED = frozenset({EventStatus.ROUTED, EventStatus.IGNORED})
# What names an event: unique per tenant and source.
KEY_COLUMNS = (InboundEventRow.tenant, InboundEventRow.source, InboundEventRow.event_id)


def _matching(tenant: str, keys: Sequence[EventKey]) -> list[ColumnElement[bool]]:
    return [
        InboundEventRow.tenant == tenant,
        tuple_(InboundEventRow.source, InboundEventRow.event_id).in_(list(keys)),
    ]


@dataclass(frozen=True)
class Claim:
    """One request's events (held by `lease`, the relay about to deliver them) and the contacts they carry."""

    tenant: str
    events: Sequence[InboundEventKey]
    lease: Lease | None = None
    contacts: Sequence[Contact] = ()


async def claim_many(session: AsyncSession, claims: Sequence[Claim]) -> list[dict[EventKey, str]]:
    """Every claim's new events in one INSERT; each claim's statuses, as if they had run one after
    another: an event two claims carry is new to the first only."""
    now = utcnow()
    rows: dict[TenantEventKey, dict[str, Any]] = {}
    for claim in claims:
        lease = claim.lease
        held = {"leased_by": lease.owner if lease else None, "lease_until": lease.until if lease else None}
        for event in claim.events:
            key = (claim.tenant, event.source, event.event_id)
            if key not in rows:
                row = {**event.model_dump(), "tenant": claim.tenant, "status": _arrival(event).value}
                rows[key] = {**row, "received_at": now, **held}
    inserted: set[TenantEventKey] = set()
    if rows:
        # Insert first and let the unique constraint decide: a concurrent claim of the same event
        # either waits for ours or makes ours a no-op, so exactly one caller ever sees 'new'.
        insert = insert_for(session, InboundEventRow)
        returned = await session.execute(
            insert.on_conflict_do_nothing(index_elements=["tenant", "source", "event_id"]).returning(
                *KEY_COLUMNS
            ),
            [rows[key] for key in sorted(rows)],  # in key order: two batches lock rows alike
        )
        inserted = {(tenant, source, event_id) for tenant, source, event_id in returned}
    seen = [key for key in rows if key not in inserted]
    found: dict[TenantEventKey, EventStatus] = {}
    if seen:
        result = await session.execute(
            select(*KEY_COLUMNS, InboundEventRow.status).where(tuple_(*KEY_COLUMNS).in_(seen))
        )
        found = {
            (tenant, source, event_id): EventStatus(status) for tenant, source, event_id, status in result
        }
    new = set(inserted)
    answers = []
    for claim in claims:
        statuses: dict[EventKey, str] = {}
        for key in dict.fromkeys((claim.tenant, event.source, event.event_id) for event in claim.events):
            if key in new:
                new.discard(key)
                statuses[key[1:]] = EventStatus.NEW
            elif key in inserted:  # an earlier claim of this batch stored it
                statuses[key[1:]] = EventStatus(rows[key]["status"])
            else:
                statuses[key[1:]] = found.get(key, EventStatus.RECEIVED)
        answers.append(statuses)
    return answers


def _arrival(event: InboundEventKey) -> EventStatus:
    # An event with nothing to deliver (a contact update) is settled as soon as it is stored.
    return EventStatus.RECEIVED if event.payload is not None else EventStatus.ROUTED


async def mark_many(
    session: AsyncSession, marks: Sequence[tuple[str, Sequence[EventKey]]], status: str
) -> list[None]:
    """Each (tenant, keys) settled in `status`, all in one UPDATE."""
    settled = EventStatus(status)
    if settled not in SETTLED:
        raise ValueError(f"events can be marked routed or ignored, not {status!r}")
    keys = [(tenant, source, event_id) for tenant, events in marks for source, event_id in events]
    if keys:
        await session.execute(
            update(InboundEventRow)
            .where(tuple_(*KEY_COLUMNS).in_(keys))
            .values(status=settled.value, routed_at=utcnow())
        )
    return [None for _ in marks]


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


_WAITING = (
    InboundEventRow.status == EventStatus.RECEIVED.value,
    InboundEventRow.payload.is_not(None),
    InboundEventRow.workflow_id.is_not(None),
)


def _free(now: datetime) -> ColumnElement[bool]:
    return or_(InboundEventRow.lease_until.is_(None), InboundEventRow.lease_until <= now)


def _pending(row: Any) -> PendingEvent:
    return PendingEvent(
        tenant=row.tenant,
        source=row.source,
        event_id=row.event_id,
        workflow_id=row.workflow_id,
        payload=row.payload,
        attempts=row.attempts,
    )


async def take_events(
    session: AsyncSession,
    lease: Lease,
    *,
    per_tenant: int,
    limit: int,
    skip_tenants: Sequence[str] = (),
) -> list[PendingEvent]:
    """Lease waiting events nobody holds: tenants in turn, each workflow's in order; oldest first.

    Tenants take turns (each one's first event, then each one's second, ...), so one tenant's
    thousands of events never keep another's out. Within a tenant, a workflow whose events Temporal
    has refused before comes after the fresh ones, so a restart does not begin with the same poison.
    An event is not taken while an earlier one of its workflow is held elsewhere: order is kept.
    """
    now = utcnow()
    row = InboundEventRow
    lifecycle = (row.tenant, row.workflow_id)
    held_elsewhere = case((row.lease_until > now, 1), else_=0)
    candidates = (
        select(
            row.id,
            row.tenant,
            func.max(row.attempts).over(partition_by=lifecycle).label("refused"),
            func.max(held_elsewhere)
            .over(partition_by=lifecycle, order_by=row.id, rows=(None, 0))
            .label("held"),
        )
        .where(*_WAITING, row.tenant.not_in(list(skip_tenants)))
        .subquery()
    )
    turns = (
        select(
            candidates.c.id,
            func.row_number()
            .over(partition_by=candidates.c.tenant, order_by=(candidates.c.refused, candidates.c.id))
            .label("turn"),
        )
        .where(candidates.c.held == 0)
        .subquery()
    )
    chosen = (
        select(turns.c.id).where(turns.c.turn <= per_tenant).order_by(turns.c.turn, turns.c.id).limit(limit)
    )
    taken = await session.execute(
        update(row)
        .where(row.id.in_(chosen), *_WAITING, _free(now))
        .values(leased_by=lease.owner, lease_until=lease.until)
        .returning(row.id, row.tenant, row.source, row.event_id, row.workflow_id, row.payload, row.attempts)
    )
    rows = list(taken)
    # In turn order again (RETURNING keeps none): fresh workflows first, each one's events in order.
    refused: dict[tuple[str, str], int] = {}
    for found in rows:
        lifecycle_key = (found.tenant, found.workflow_id)
        refused[lifecycle_key] = max(refused.get(lifecycle_key, 0), found.attempts)
    rows.sort(key=lambda found: (refused[(found.tenant, found.workflow_id)], found.id))
    return [_pending(found) for found in rows]


async def lease_events(
    session: AsyncSession, tenant: str, keys: Sequence[EventKey], lease: Lease
) -> set[EventKey]:
    """Lease these events where free or already this owner's; the keys now held."""
    if not keys:
        return set()
    row = InboundEventRow
    taken = await session.execute(
        update(row)
        .where(*_matching(tenant, keys), *_WAITING, or_(_free(utcnow()), row.leased_by == lease.owner))
        .values(leased_by=lease.owner, lease_until=lease.until)
        .returning(row.source, row.event_id)
    )
    return {(source, event_id) for source, event_id in taken}


async def renew_leases(session: AsyncSession, lease: Lease) -> None:
    """Extend every waiting event this owner still holds (a lapsed lease stays lapsed)."""
    row = InboundEventRow
    await session.execute(
        update(row)
        .where(
            row.leased_by == lease.owner, row.status == EventStatus.RECEIVED.value, row.lease_until > utcnow()
        )
        .values(lease_until=lease.until)
    )


async def release_leases(session: AsyncSession, owner: str) -> None:
    """This owner stops: what it held is free for the next process at once."""
    await session.execute(
        update(InboundEventRow)
        .where(InboundEventRow.leased_by == owner, InboundEventRow.status == EventStatus.RECEIVED.value)
        .values(leased_by=None, lease_until=None)
    )


async def refuse_event(
    session: AsyncSession, tenant: str, key: EventKey, reason: str, max_refusals: int
) -> tuple[int, bool]:
    """Temporal refused this event once more: its count of refusals, and whether it is now dead."""
    row = InboundEventRow
    attempts = row.attempts + 1
    found = await session.execute(
        update(row)
        .where(*_matching(tenant, [key]), row.status == EventStatus.RECEIVED.value)
        .values(
            attempts=attempts,
            reason=reason[:2000],
            status=case((attempts >= max_refusals, EventStatus.DEAD.value), else_=row.status),
            routed_at=case((attempts >= max_refusals, utcnow()), else_=row.routed_at),
        )
        .returning(row.attempts, row.status)
    )
    result = found.first()
    if result is None:  # settled meanwhile (another process delivered it)
        return 0, False
    return int(result.attempts), result.status == EventStatus.DEAD.value


async def bury_event(session: AsyncSession, tenant: str, key: EventKey, reason: str) -> None:
    """Dead at once: a stored event no workflow can take (its payload or workflow id is unusable)."""
    await session.execute(
        update(InboundEventRow)
        .where(*_matching(tenant, [key]), InboundEventRow.status == EventStatus.RECEIVED.value)
        .values(
            status=EventStatus.DEAD.value,
            reason=reason[:2000],
            attempts=InboundEventRow.attempts + 1,
            routed_at=utcnow(),
        )
    )


async def dead_events(session: AsyncSession, tenant: str, limit: int) -> list[DeadEvent]:
    """A tenant's dead letters, newest first."""
    row = InboundEventRow
    found = await session.execute(
        select(row.event_id, row.source, row.type, row.subject, row.workflow_id, row.reason, row.attempts)
        .add_columns(row.received_at)
        .where(row.tenant == tenant, row.status == EventStatus.DEAD.value)
        .order_by(row.id.desc())
        .limit(limit)
    )
    return [
        DeadEvent(
            id=dead.event_id,
            source=dead.source,
            type=dead.type,
            subject=dead.subject,
            workflow_id=dead.workflow_id,
            reason=dead.reason,
            attempts=dead.attempts,
            received_at=dead.received_at,
        )
        for dead in found
    ]


async def purge_payloads(session: AsyncSession, settled_before: datetime) -> int:
    """Forget the payloads of events settled (routed or ignored) before `settled_before`; how many.

    The outbox needs an event's payload only until its workflow has it; after that it is personal
    data (names, phones) kept for nothing. The row stays: it still dedupes a redelivered id.
    Dead events keep theirs, for whoever looks into them.
    """
    result = await session.execute(
        update(InboundEventRow)
        .where(
            InboundEventRow.status.in_([status.value for status in SETTLED]),
            InboundEventRow.routed_at < settled_before,
            InboundEventRow.payload.is_not(None),
        )
        .values(payload=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def revive_events(session: AsyncSession, tenant: str, event_ids: Sequence[str]) -> list[str]:
    """Dead letters back into the outbox, their refusals forgotten: the ids revived."""
    if not event_ids:
        return []
    row = InboundEventRow
    revived = await session.execute(
        update(row)
        .where(row.tenant == tenant, row.status == EventStatus.DEAD.value, row.event_id.in_(list(event_ids)))
        .values(
            status=EventStatus.RECEIVED.value, attempts=0, leased_by=None, lease_until=None, routed_at=None
        )
        .returning(row.event_id)
    )
    return sorted(event_id for (event_id,) in revived)
