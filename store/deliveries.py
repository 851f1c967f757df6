"""The delivery log: one row per message under its idempotency key, plus every attempt."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.deliveries import Delivery, DeliveryDraft, DeliveryOutcome, DeliveryStatus
from store.errors import UnknownDelivery
from store.records import DeliveryAttempt, to_attempt, to_delivery
from store.tables import DeliveryAttemptRow, DeliveryRow, core, insert_for, utcnow

# The hot statements (a row per message, three writes each) are built on the Core tables.
DELIVERIES = core(DeliveryRow)
ATTEMPTS = core(DeliveryAttemptRow)


async def begin_delivery(session: AsyncSession, draft: DeliveryDraft) -> tuple[Delivery, bool]:
    now = utcnow()
    insert = insert_for(session, DeliveryRow).values(
        **draft.model_dump(),
        status=DeliveryStatus.PLANNED.value,
        attachments=[],
        created_at=now,
        updated_at=now,
    )
    # The unique key decides between racing callers: the loser's insert does nothing and it
    # reads the winner's row, so a retried activity never sends the same message twice.
    inserted = (
        await session.execute(
            insert.on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(*DELIVERIES.c)
        )
    ).one_or_none()
    if inserted is not None:
        return to_delivery(inserted), True
    existing = await delivery_by_key(session, draft.idempotency_key)
    assert existing is not None  # the conflict was on this key
    return existing, False


async def finish_delivery(session: AsyncSession, delivery_id: int, outcome: DeliveryOutcome) -> Delivery:
    moved = await move_delivery(session, delivery_id, outcome)
    if moved is None:
        raise UnknownDelivery(delivery_id)
    return moved


async def move_delivery(
    session: AsyncSession,
    delivery_id: int,
    outcome: DeliveryOutcome,
    *,
    expected: Collection[DeliveryStatus] | None = None,
    attempt_status: DeliveryStatus | None = None,
    keep_updated_at: bool = False,
) -> Delivery | None:
    """Write an attempt's outcome onto the row, and the attempt into its log.

    With `expected`, a compare-and-set: the row moves only from one of those statuses, and None
    tells the caller another attempt got there first (nothing is written then). `attempt_status`
    logs the attempt otherwise than the row (a channel that refused it while the row goes back
    to planned for the next); `keep_updated_at` keeps the moment a `sending` claim was taken.
    """
    now = utcnow()
    fields = outcome.model_dump(mode="json", exclude={"sent_at"}, exclude_none=keep_updated_at)
    statement = update(DELIVERIES).where(DELIVERIES.c.id == delivery_id)
    if expected is not None:
        statement = statement.where(DELIVERIES.c.status.in_([status.value for status in expected]))
    if not keep_updated_at:
        fields |= {"sent_at": outcome.sent_at, "updated_at": now}
    # Writing the delivery first takes its lock (row lock on PostgreSQL, the write lock on
    # SQLite), so concurrent outcomes for one delivery count their attempts one after another.
    updated = (await session.execute(statement.values(**fields).returning(*DELIVERIES.c))).one_or_none()
    if updated is None:
        return None
    earlier = select(func.count()).where(ATTEMPTS.c.delivery_id == delivery_id).scalar_subquery()
    await session.execute(
        insert(ATTEMPTS).values(
            delivery_id=delivery_id,
            attempt=earlier + 1,
            channel=outcome.channel,
            provider=outcome.provider,
            status=(attempt_status or outcome.status).value,
            reason=outcome.reason,
            provider_message_id=outcome.provider_message_id,
            cost=outcome.cost,
            at=now,
        )
    )
    return to_delivery(updated)


async def claim_sending(
    session: AsyncSession, delivery_id: int, expected: DeliveryStatus, channel: str, provider: str, body: str
) -> Delivery | None:
    """planned → sending, just before a provider call.

    Only one caller wins; the row then names the channel and provider being called, the body as
    it leaves and, in `updated_at`, when: a retry that finds it knows whom to ask, what, since when.
    """
    claimed = (
        await session.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id == delivery_id, DELIVERIES.c.status == expected.value)
            .values(
                status=DeliveryStatus.SENDING.value,
                channel=channel,
                provider=provider,
                body=body,
                updated_at=utcnow(),
            )
            .returning(*DELIVERIES.c)
        )
    ).one_or_none()
    return None if claimed is None else to_delivery(claimed)


async def delivery_by_key(session: AsyncSession, idempotency_key: str) -> Delivery | None:
    query = select(DELIVERIES).where(DELIVERIES.c.idempotency_key == idempotency_key)
    row = (await session.execute(query)).one_or_none()
    return None if row is None else to_delivery(row)


async def get_delivery(session: AsyncSession, delivery_id: int) -> Delivery | None:
    row = await session.get(DeliveryRow, delivery_id)
    return None if row is None else to_delivery(row)


async def list_deliveries(
    session: AsyncSession,
    tenant: str,
    *,
    subject: str | None = None,
    contact_id: str | None = None,
    status: str | None = None,
    workflow_id: str | None = None,
    limit: int = 100,
    subjects: Collection[str] | None = None,
    subject_prefix: str | None = None,
) -> list[Delivery]:
    """Newest first; `subjects` is any of these subjects, `subject_prefix` a kind's (`lesson:`)."""
    query = select(DeliveryRow).where(DeliveryRow.tenant == tenant)
    if subject is not None:
        query = query.where(DeliveryRow.subject == subject)
    if subjects is not None:
        query = query.where(DeliveryRow.subject.in_(list(subjects)))
    if subject_prefix is not None:
        query = query.where(DeliveryRow.subject.startswith(subject_prefix, autoescape=True))
    if contact_id is not None:
        query = query.where(DeliveryRow.contact_id == contact_id)
    if status is not None:
        query = query.where(DeliveryRow.status == status)
    if workflow_id is not None:
        query = query.where(DeliveryRow.workflow_id == workflow_id)
    query = query.order_by(DeliveryRow.created_at.desc(), DeliveryRow.id.desc()).limit(limit)
    return [to_delivery(row) for row in (await session.execute(query)).scalars()]


async def list_attempts(session: AsyncSession, delivery_id: int) -> list[DeliveryAttempt]:
    query = (
        select(DeliveryAttemptRow)
        .where(DeliveryAttemptRow.delivery_id == delivery_id)
        .order_by(DeliveryAttemptRow.attempt)
    )
    return [to_attempt(row) for row in (await session.execute(query)).scalars()]


# What a recipient may have received: the cadence counts these (a `sending` or `unknown` one may
# have gone, so it counts too).
CADENCE_COUNTED = (
    DeliveryStatus.SENDING,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.READ,
    DeliveryStatus.UNKNOWN,
)


async def recent_sends(
    session: AsyncSession, tenant: str, contact_id: str, categories: Collection[str], since: datetime
) -> list[tuple[datetime, str]]:
    """(moment due, category) of the messages in these categories a contact was sent after `since`,
    from every lifecycle: what the cadence counts (domain/cadence.py)."""
    query = (
        select(DeliveryRow.scheduled_for, DeliveryRow.category)
        .where(
            DeliveryRow.tenant == tenant,
            DeliveryRow.contact_id == contact_id,
            DeliveryRow.scheduled_for > since,
            DeliveryRow.category.in_(list(categories)),
            DeliveryRow.status.in_([status.value for status in CADENCE_COUNTED]),
        )
        .order_by(DeliveryRow.scheduled_for)
    )
    return [(at, str(category)) for at, category in (await session.execute(query)).all()]


async def recorded_provider_ids(session: AsyncSession, provider: str, ids: Collection[str]) -> set[str]:
    """Which of these provider message ids a delivery already records."""
    if not ids:
        return set()
    query = select(DeliveryRow.provider_message_id).where(
        DeliveryRow.provider == provider, DeliveryRow.provider_message_id.in_(list(ids))
    )
    return {str(value) for value in (await session.execute(query)).scalars()}
