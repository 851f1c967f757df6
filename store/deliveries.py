"""The delivery log: one row per message under its idempotency key, plus every attempt."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Table, Update, and_, bindparam, false, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from domain.contacts import Contact
from domain.deliveries import Delivery, DeliveryDraft, DeliveryOutcome, DeliveryStatus
from store.errors import UnknownDelivery
from store.records import DeliveryAttempt, to_attempt, to_delivery
from store.tables import ContactRow, DeliveryAttemptRow, DeliveryRow, core, utcnow

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
def _update(columns: tuple[str, ...], compare: bool, returning: bool = True) -> Update:
    """UPDATE deliveries SET <columns> WHERE id = :delivery_id [AND status IN :expected] [RETURNING *]."""
    statement = update(DELIVERIES).where(DELIVERIES.c.id == bindparam("delivery_id"))
    if compare:
        statement = statement.where(DELIVERIES.c.status.in_(bindparam("expected", expanding=True)))
    statement = statement.values(_slots(DELIVERIES, columns))
    return statement.returning(*DELIVERIES.c) if returning else statement


async def _move(
    session: AsyncSession, delivery_id: int, fields: dict[str, Any], expected: list[str] | None
) -> Any:
    """The row after the update, or None when it is not there (or not in an `expected` status)."""
    statement = _update(tuple(sorted(fields)), expected is not None)
    keys: dict[str, Any] = {"delivery_id": delivery_id}
    if expected is not None:
        keys["expected"] = expected
    return (await session.execute(statement, _bound(fields, **keys))).one_or_none()


async def begin_many(
    session: AsyncSession, begins: Sequence[tuple[DeliveryDraft, DeliveryOutcome | None]]
) -> list[tuple[Delivery, bool]]:
    """Each draft's row under its key, and whether this call wrote it; the new rows of concurrent
    sends in one INSERT for each way a row starts.

    A new row is `planned`; with an outcome, it starts there instead: claimed `sending` (the claim's
    fields, as `claim_sending` writes them) or at an outcome (logged as its first attempt, as
    `move_delivery` logs one). A send that knows its channel before it writes anything begins the
    row with its claim: one write fewer per message. Each gets what it would have got one after
    another: of two drafts under one key, the first writes the row and the second gets it back.
    """
    now = utcnow()
    new: dict[str, dict[str, Any]] = {}
    for draft, at in begins:
        new.setdefault(draft.idempotency_key, _first_fields(draft, at, now))
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for fields in new.values():
        by_columns.setdefault(tuple(fields), []).append(fields)
    # The unique key decides between racing callers: the loser's insert does nothing and it
    # reads the winner's row, so a retried activity never sends the same message twice.
    written: dict[str, Delivery] = {}
    dialect = session.get_bind().dialect.name
    for columns, rows in by_columns.items():
        rows.sort(key=lambda fields: str(fields["idempotency_key"]))  # two batches lock keys alike
        inserted = await session.execute(_begin(dialect, columns), [_bound(fields) for fields in rows])
        written.update((row.idempotency_key, to_delivery(row)) for row in inserted)
    earlier = [key for key in new if key not in written]
    found = {}
    if earlier:
        result = await session.execute(select(DELIVERIES).where(DELIVERIES.c.idempotency_key.in_(earlier)))
        found = {row.idempotency_key: to_delivery(row) for row in result}
    logged = [
        (written[draft.idempotency_key].id, at)
        for draft, at in begins
        if at is not None and at.status != DeliveryStatus.SENDING and draft.idempotency_key in written
    ]
    if logged:
        attempts = dict(logged)  # once per row: a repeated draft wrote nothing
        await _log_attempts(session, [(row_id, at, at.status) for row_id, at in attempts.items()], now)
    answers: list[tuple[Delivery, bool]] = []
    fresh = set(written)
    for draft, _ in begins:
        key = draft.idempotency_key
        if key in fresh:
            fresh.discard(key)
            answers.append((written[key], True))
        else:
            answers.append((written.get(key) or found[key], False))
    return answers


def _first_fields(draft: DeliveryDraft, at: DeliveryOutcome | None, now: datetime) -> dict[str, Any]:
    """A new row's columns: `planned`, or claimed `sending`, or at an outcome."""
    fields = draft.model_dump() | {
        "status": DeliveryStatus.PLANNED.value,
        "attachments": [],
        "created_at": now,
        "updated_at": now,
    }
    if at is not None and at.status == DeliveryStatus.SENDING:
        fields |= _claim(at.channel or "", at.provider or "", at.body or "", at.sending_until)
    elif at is not None:
        fields |= _outcome_fields(at, now)
    return fields


def _claim(channel: str, provider: str, body: str, until: datetime | None) -> dict[str, Any]:
    """A claim: `sending`, who is being called with what (`updated_at` says since when), and until
    when the claiming attempt may still record the answer."""
    return {
        "status": DeliveryStatus.SENDING.value,
        "channel": channel,
        "provider": provider,
        "body": body,
        "sending_until": until,
    }


async def _log_attempts(
    session: AsyncSession, attempts: Sequence[tuple[int, DeliveryOutcome, DeliveryStatus]], at: datetime
) -> None:
    """Each (delivery, outcome, status) into its delivery's log, one statement for all."""
    params = []
    for delivery_id, outcome, status in attempts:
        attempt = outcome.model_dump(include={"channel", "provider", "reason", "provider_message_id", "cost"})
        params.append(_bound(attempt | {"status": status.value, "at": at}, delivery_id=delivery_id))
    await session.execute(ATTEMPT, params[0] if len(params) == 1 else params)


async def finish_delivery(session: AsyncSession, delivery_id: int, outcome: DeliveryOutcome) -> Delivery:
    (finished,) = await finish_many(session, [(delivery_id, outcome)])
    return finished


async def finish_many(
    session: AsyncSession, finishes: Sequence[tuple[int, DeliveryOutcome]]
) -> list[Delivery]:
    """Concurrent sends' outcomes onto their rows and into their logs.

    One send: an UPDATE ... RETURNING and the attempt. Several: one UPDATE for all of them, one
    attempt INSERT, one SELECT of the rows (a list of parameters is one round trip: psycopg
    pipelines it, SQLite runs it in one call), instead of two statements each.
    """
    if len(finishes) == 1:
        moved = await move_delivery(session, *finishes[0])
        if moved is None:
            raise UnknownDelivery(finishes[0][0])
        return [moved]
    now = utcnow()
    moves = [(delivery_id, _outcome_fields(outcome, now)) for delivery_id, outcome in finishes]
    moves.sort(key=lambda move: move[0])  # in id order: two batches lock their rows alike
    statement = _update(tuple(sorted(moves[0][1])), compare=False, returning=False)
    await session.execute(
        statement, [_bound(fields, delivery_id=delivery_id) for delivery_id, fields in moves]
    )
    await _log_attempts(
        session, [(delivery_id, outcome, outcome.status) for delivery_id, outcome in finishes], now
    )
    ids = [delivery_id for delivery_id, _ in finishes]
    rows = {
        row.id: to_delivery(row)
        for row in await session.execute(select(DELIVERIES).where(DELIVERIES.c.id.in_(ids)))
    }
    missing = [delivery_id for delivery_id in ids if delivery_id not in rows]
    if missing:
        raise UnknownDelivery(missing[0])
    return [rows[delivery_id] for delivery_id in ids]


def _outcome_fields(
    outcome: DeliveryOutcome, now: datetime, *, keep_updated_at: bool = False
) -> dict[str, Any]:
    moments = {"sent_at", "sending_until"}
    fields = outcome.model_dump(mode="json", exclude=moments, exclude_none=keep_updated_at)
    fields |= outcome.model_dump(include=moments, exclude_none=keep_updated_at)
    if not keep_updated_at:
        fields |= {"updated_at": now}
    return fields


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
    fields = _outcome_fields(outcome, now, keep_updated_at=keep_updated_at)
    # Writing the delivery first takes its lock (row lock on PostgreSQL, the write lock on
    # SQLite), so concurrent outcomes for one delivery count their attempts one after another.
    compare = None if expected is None else [status.value for status in expected]
    updated = await _move(session, delivery_id, fields, compare)
    if updated is None:
        return None
    await _log_attempts(session, [(delivery_id, outcome, attempt_status or outcome.status)], now)
    return to_delivery(updated)


async def claim_sending(
    session: AsyncSession,
    delivery_id: int,
    expected: DeliveryStatus,
    channel: str,
    provider: str,
    body: str,
    until: datetime | None = None,
) -> Delivery | None:
    """planned → sending, just before a provider call.

    Only one caller wins; the row then names the channel and provider being called, the body as
    it leaves and, in `updated_at`, when: a retry that finds it knows whom to ask, what, since when.
    `until`: when the claiming attempt ends.
    """
    fields = _claim(channel, provider, body, until) | {"updated_at": utcnow()}
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


async def sending_alike(
    session: AsyncSession, row: Delivery, provider_ids: Collection[str] = ()
) -> tuple[list[tuple[Delivery, Contact | None]], set[str]]:
    """The tenant's other deliveries `sending` this row's text through its provider, each with its
    contact as stored (another recipient's among them: the caller compares addresses), and which of
    `provider_ids` (that provider's message ids) a delivery already records.

    One statement, so one moment: a delivery that records one of those messages in between is seen
    either still sending or recording it, never neither nor both.
    """
    contact = and_(ContactRow.tenant == DELIVERIES.c.tenant, ContactRow.id == DELIVERIES.c.contact_id)
    alike = and_(
        DELIVERIES.c.tenant == row.tenant,
        DELIVERIES.c.status == DeliveryStatus.SENDING.value,
        DELIVERIES.c.body == row.body,
        DELIVERIES.c.id != row.id,
    )
    recorded = DELIVERIES.c.provider_message_id.in_(list(provider_ids)) if provider_ids else false()
    query = (
        select(DELIVERIES, ContactRow.data.label("contact"))
        .outerjoin(ContactRow, contact)
        .where(DELIVERIES.c.provider == row.provider, or_(alike, recorded))
    )
    sending: list[tuple[Delivery, Contact | None]] = []
    claimed: set[str] = set()
    for found in await session.execute(query):
        if found.provider_message_id is not None and found.provider_message_id in provider_ids:
            claimed.add(str(found.provider_message_id))
        else:  # the other half of the condition: sending alike
            other = to_delivery(found)
            sending.append((other, None if found.contact is None else Contact.model_validate(found.contact)))
    return sending, claimed
