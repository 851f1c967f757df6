"""The delivery log: one row per message under its idempotency key, plus every attempt."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Table, Update, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from domain.deliveries import Delivery, DeliveryDraft, DeliveryOutcome, DeliveryStatus
from store.errors import UnknownDelivery
from store.records import DeliveryAttempt, to_attempt, to_delivery
from store.tables import DeliveryAttemptRow, DeliveryRow, core, utcnow

# The hot statements (a row per message, three writes each) are built once, on the Core tables,
# and run with their values: building and cache-keying a statement per call cost ~0.3 ms. A
# column's value goes in as `set_<column>`.
DELIVERIES = core(DeliveryRow)
ATTEMPTS = core(DeliveryAttemptRow)


def _slots(table: Table, columns: Iterable[str]) -> dict[str, BindParameter[Any]]:
    return {name: bindparam(f"set_{name}", type_=table.c[name].type) for name in columns}


def _bound(fields: dict[str, Any], **keys: Any) -> dict[str, Any]:
    return {**keys, **{f"set_{name}": value for name, value in fields.items()}}


BY_KEY = select(DELIVERIES).where(DELIVERIES.c.idempotency_key == bindparam("key"))
_ATTEMPT_OF: BindParameter[int] = bindparam("delivery_id")
# An attempt's number counts the ones before it (the row's lock, taken first, keeps them in line).
ATTEMPT = insert(ATTEMPTS).values(
    delivery_id=_ATTEMPT_OF,
    attempt=select(func.count()).where(ATTEMPTS.c.delivery_id == _ATTEMPT_OF).scalar_subquery() + 1,
    **_slots(ATTEMPTS, ("channel", "provider", "status", "reason", "provider_message_id", "cost", "at")),
)


@cache
def _begin(dialect: str, columns: tuple[str, ...]) -> ReturningInsert[Any]:
    """INSERT INTO deliveries (<columns>) ON CONFLICT (idempotency_key) DO NOTHING RETURNING *."""
    insert = postgresql.insert(DELIVERIES) if dialect == "postgresql" else sqlite.insert(DELIVERIES)
    statement = insert.values(_slots(DELIVERIES, columns))
    return statement.on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(*DELIVERIES.c)


@cache
def _update(columns: tuple[str, ...], compare: bool) -> Update:
    """UPDATE deliveries SET <columns> WHERE id = :delivery_id [AND status IN :expected] RETURNING *."""
    statement = update(DELIVERIES).where(DELIVERIES.c.id == bindparam("delivery_id"))
    if compare:
        statement = statement.where(DELIVERIES.c.status.in_(bindparam("expected", expanding=True)))
    return statement.values(_slots(DELIVERIES, columns)).returning(*DELIVERIES.c)


async def _move(
    session: AsyncSession, delivery_id: int, fields: dict[str, Any], expected: list[str] | None
) -> Any:
    """The row after the update, or None when it is not there (or not in an `expected` status)."""
    statement = _update(tuple(sorted(fields)), expected is not None)
    keys: dict[str, Any] = {"delivery_id": delivery_id}
    if expected is not None:
        keys["expected"] = expected
    return (await session.execute(statement, _bound(fields, **keys))).one_or_none()


async def begin_delivery(
    session: AsyncSession, draft: DeliveryDraft, at: DeliveryOutcome | None = None
) -> tuple[Delivery, bool]:
    """The row under the draft's key, and whether this call wrote it.

    A new row is `planned`; with `at`, it starts there instead: claimed `sending` (the claim's
    fields, as `claim_sending` writes them) or at an outcome (logged as its first attempt, as
    `move_delivery` logs one). A send that knows its channel before it writes anything begins the
    row with its claim: one write fewer per message.
    """
    now = utcnow()
    fields = draft.model_dump() | {
        "status": DeliveryStatus.PLANNED.value,
        "attachments": [],
        "created_at": now,
        "updated_at": now,
    }
    if at is not None and at.status == DeliveryStatus.SENDING:
        fields |= _claim(at.channel or "", at.provider or "", at.body or "")
    elif at is not None:
        fields |= at.model_dump(mode="json", exclude={"sent_at"}) | {"sent_at": at.sent_at}
    # The unique key decides between racing callers: the loser's insert does nothing and it
    # reads the winner's row, so a retried activity never sends the same message twice.
    statement = _begin(session.get_bind().dialect.name, tuple(fields))
    inserted = (await session.execute(statement, _bound(fields))).one_or_none()
    if inserted is None:
        existing = await delivery_by_key(session, draft.idempotency_key)
        assert existing is not None  # the conflict was on this key
        return existing, False
    row = to_delivery(inserted)
    if at is not None and at.status != DeliveryStatus.SENDING:
        await _log_attempt(session, row.id, at, at.status, now)
    return row, True


def _claim(channel: str, provider: str, body: str) -> dict[str, Any]:
    """A claim: `sending`, and who is being called with what (`updated_at` says since when)."""
    return {"status": DeliveryStatus.SENDING.value, "channel": channel, "provider": provider, "body": body}


async def _log_attempt(
    session: AsyncSession, delivery_id: int, outcome: DeliveryOutcome, status: DeliveryStatus, at: datetime
) -> None:
    attempt = outcome.model_dump(include={"channel", "provider", "reason", "provider_message_id", "cost"})
    attempt |= {"status": status.value, "at": at}
    await session.execute(ATTEMPT, _bound(attempt, delivery_id=delivery_id))


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
    if not keep_updated_at:
        fields |= {"sent_at": outcome.sent_at, "updated_at": now}
    # Writing the delivery first takes its lock (row lock on PostgreSQL, the write lock on
    # SQLite), so concurrent outcomes for one delivery count their attempts one after another.
    compare = None if expected is None else [status.value for status in expected]
    updated = await _move(session, delivery_id, fields, compare)
    if updated is None:
        return None
    await _log_attempt(session, delivery_id, outcome, attempt_status or outcome.status, now)
    return to_delivery(updated)


async def claim_sending(
    session: AsyncSession, delivery_id: int, expected: DeliveryStatus, channel: str, provider: str, body: str
) -> Delivery | None:
    """planned → sending, just before a provider call.

    Only one caller wins; the row then names the channel and provider being called, the body as
    it leaves and, in `updated_at`, when: a retry that finds it knows whom to ask, what, since when.
    """
    fields = _claim(channel, provider, body) | {"updated_at": utcnow()}
    claimed = await _move(session, delivery_id, fields, [expected.value])
    return None if claimed is None else to_delivery(claimed)


async def delivery_by_key(session: AsyncSession, idempotency_key: str) -> Delivery | None:
    row = (await session.execute(BY_KEY, {"key": idempotency_key})).one_or_none()
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


# Built once: the cadence asks it with every counted message (a reminder, a recall invitation).
RECENT_SENDS = (
    select(DELIVERIES.c.scheduled_for, DELIVERIES.c.category)
    .where(
        DELIVERIES.c.tenant == bindparam("tenant"),
        DELIVERIES.c.contact_id == bindparam("contact_id"),
        DELIVERIES.c.scheduled_for > bindparam("since"),
        DELIVERIES.c.category.in_(bindparam("categories", expanding=True)),
        DELIVERIES.c.status.in_([status.value for status in CADENCE_COUNTED]),
    )
    .order_by(DELIVERIES.c.scheduled_for)
)


async def recent_sends(
    session: AsyncSession, tenant: str, contact_id: str, categories: Collection[str], since: datetime
) -> list[tuple[datetime, str]]:
    """(moment due, category) of the messages in these categories a contact was sent after `since`,
    from every lifecycle: what the cadence counts (domain/cadence.py)."""
    keys = {"tenant": tenant, "contact_id": contact_id, "since": since, "categories": list(categories)}
    return [(at, str(category)) for at, category in (await session.execute(RECENT_SENDS, keys)).all()]


async def recorded_provider_ids(session: AsyncSession, provider: str, ids: Collection[str]) -> set[str]:
    """Which of these provider message ids a delivery already records."""
    if not ids:
        return set()
    query = select(DeliveryRow.provider_message_id).where(
        DeliveryRow.provider == provider, DeliveryRow.provider_message_id.in_(list(ids))
    )
    return {str(value) for value in (await session.execute(query)).scalars()}
