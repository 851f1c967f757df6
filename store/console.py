"""Read-only queries behind the staff console's delivery log: search, one message in full, a contact.

Every function takes the tenant and filters by it first: a staff user of one clinic reads nothing of
another's. Rows are read as plain records with `status` a string, so the console shows statuses the
send path adds (`sending`, `unknown`) without waiting for the domain enum to know them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from store.tables import (
    ContactRow,
    DeliveryAttemptRow,
    DeliveryEventRow,
    DeliveryRow,
    InboundEventRow,
    TemplateErrorRow,
    TemplateVersionRow,
)

PAGE_SIZE = 50


class LogEntry(BaseModel):
    """One message of the delivery log as staff read it, with its recipient's name and phone."""

    id: int
    subject: str
    workflow_id: str
    step: str
    contact_id: str
    contact_name: str = ""
    contact_phone: str = ""
    contact_timezone: str = ""
    template: str
    channel: str | None = None
    provider: str | None = None
    locale: str | None = None
    body: str | None = None
    status: str
    reason: str | None = None
    provider_message_id: str | None = None
    cost: float | None = None
    scheduled_for: datetime
    sent_at: datetime | None = None
    created_at: datetime

    @property
    def kind(self) -> str:
        return self.subject.partition(":")[0]

    @property
    def aggregate_id(self) -> str:
        return self.subject.partition(":")[2]


class AttemptEntry(BaseModel):
    attempt: int
    channel: str | None = None
    provider: str | None = None
    status: str
    reason: str | None = None
    provider_message_id: str | None = None
    cost: float | None = None
    at: datetime


class CallbackEntry(BaseModel):
    provider: str
    status: str
    detail: str | None = None
    cost: float | None = None
    at: datetime


class TemplateUsed(BaseModel):
    """Which text went out: a staff version live at send time, else the file default."""

    version: int | None = None
    version_id: int | None = None
    locale: str | None = None
    channel: str | None = None
    error: str | None = None


class MessageDetail(BaseModel):
    entry: LogEntry
    attempts: list[AttemptEntry]
    callbacks: list[CallbackEntry]
    template: TemplateUsed


@dataclass(frozen=True)
class LogFilter:
    """What the delivery log page asks for; empty strings and None mean "any"."""

    patient: str = ""
    kind: str = ""
    channel: str = ""
    provider: str = ""
    status: str = ""
    since: datetime | None = None
    until: datetime | None = None
    contact_id: str = ""
    subject: str = ""
    # Keyset pagination: rows strictly older than (created_at, id) of the last row shown.
    before: tuple[datetime, int] | None = None
    limit: int = PAGE_SIZE


_ENTRY_COLUMNS = (
    DeliveryRow.id,
    DeliveryRow.subject,
    DeliveryRow.workflow_id,
    DeliveryRow.step,
    DeliveryRow.contact_id,
    DeliveryRow.template,
    DeliveryRow.channel,
    DeliveryRow.provider,
    DeliveryRow.locale,
    DeliveryRow.body,
    DeliveryRow.status,
    DeliveryRow.reason,
    DeliveryRow.provider_message_id,
    DeliveryRow.cost,
    DeliveryRow.scheduled_for,
    DeliveryRow.sent_at,
    DeliveryRow.created_at,
)


def entries_query(tenant: str) -> Select[*tuple[Any, ...]]:
    return (
        select(*_ENTRY_COLUMNS, ContactRow.data.label("contact"))
        .select_from(DeliveryRow)
        .outerjoin(ContactRow, and_(ContactRow.tenant == tenant, ContactRow.id == DeliveryRow.contact_id))
        .where(DeliveryRow.tenant == tenant)
    )


def to_entry(row: Any) -> LogEntry:
    values = dict(row._mapping)
    contact = values.pop("contact") or {}
    return LogEntry(
        **values,
        contact_name=contact.get("name") or "",
        contact_phone=contact.get("phone") or "",
        contact_timezone=contact.get("timezone") or "",
    )


def _spellings(text: str) -> set[str]:
    # SQLite folds case for ASCII only: a Cyrillic name is also tried as typed, lower and Title case.
    return {text, text.lower(), text.title(), text.capitalize()}


async def matching_contacts(session: AsyncSession, tenant: str, patient: str) -> list[str]:
    """Contact ids whose id is `patient`, whose name contains it, or whose phone has its digits."""
    name = ContactRow.data["name"].as_string()
    phone = ContactRow.data["phone"].as_string()
    digits = "".join(ch for ch in patient if ch.isdigit())
    wanted = [ContactRow.id == patient, *(name.like(f"%{text}%") for text in _spellings(patient))]
    if len(digits) >= 4:
        wanted.append(phone.like(f"%{digits}%"))
    query = select(ContactRow.id).where(ContactRow.tenant == tenant, or_(*wanted)).limit(500)
    return list((await session.execute(query)).scalars())


def _kind_prefix(kind: str) -> Any:
    # Deliberately not a range on `subject`: with one, SQLite takes the (tenant, subject) index and
    # sorts every lesson ever sent; walking (tenant, created_at) back stops after one page.
    return func.substr(DeliveryRow.subject, 1, len(kind) + 1) == f"{kind}:"


async def search_deliveries(session: AsyncSession, tenant: str, wanted: LogFilter) -> list[LogEntry]:
    """Newest first, at most `limit` rows (plus one more, so the caller knows a next page exists)."""
    query = entries_query(tenant)
    if wanted.patient:
        ids = await matching_contacts(session, tenant, wanted.patient.strip())
        query = query.where(DeliveryRow.contact_id.in_([*ids, wanted.patient.strip()]))
    if wanted.contact_id:
        query = query.where(DeliveryRow.contact_id == wanted.contact_id)
    if wanted.subject:
        query = query.where(DeliveryRow.subject == wanted.subject)
    if wanted.kind:
        query = query.where(_kind_prefix(wanted.kind))
    for column, value in (
        (DeliveryRow.channel, wanted.channel),
        (DeliveryRow.provider, wanted.provider),
        (DeliveryRow.status, wanted.status),
    ):
        if value:
            query = query.where(column == value)
    if wanted.since is not None:
        query = query.where(DeliveryRow.created_at >= wanted.since)
    if wanted.until is not None:
        query = query.where(DeliveryRow.created_at < wanted.until)
    if wanted.before is not None:
        at, row_id = wanted.before
        query = query.where(
            or_(DeliveryRow.created_at < at, and_(DeliveryRow.created_at == at, DeliveryRow.id < row_id))
        )
    newest: Any = DeliveryRow.created_at
    if wanted.patient or wanted.contact_id or wanted.subject:
        # SQLite would walk the (tenant, created_at) index back through the whole log looking for one
        # patient's rows; ordering by an expression makes it take the contact's or subject's index
        # and sort the few rows found (PostgreSQL chooses that plan by itself).
        newest = func.coalesce(DeliveryRow.created_at, DeliveryRow.created_at)
    query = query.order_by(newest.desc(), DeliveryRow.id.desc()).limit(wanted.limit + 1)
    return [to_entry(row) for row in await session.execute(query)]


async def _template_used(session: AsyncSession, tenant: str, entry: LogEntry) -> TemplateUsed:
    failed = (
        await session.execute(
            select(TemplateErrorRow.error).where(
                TemplateErrorRow.tenant == tenant, TemplateErrorRow.delivery_id == entry.id
            )
        )
    ).scalar()
    if failed is not None:
        return TemplateUsed(error=failed)
    if entry.sent_at is None or entry.locale is None:
        return TemplateUsed()
    recorded = (
        await session.execute(select(DeliveryRow.template_version_id).where(DeliveryRow.id == entry.id))
    ).scalar()
    if recorded is not None:
        # The send recorded the version it rendered (deliveries since migration 0011).
        used = await session.get(TemplateVersionRow, recorded)
        if used is not None and used.tenant == tenant:
            return TemplateUsed(
                version=used.version, version_id=used.id, locale=used.locale, channel=used.channel
            )
    # Older rows: the newest version of this template published before the send, in its channel or
    # the default.
    query = (
        select(TemplateVersionRow)
        .where(
            TemplateVersionRow.tenant == tenant,
            TemplateVersionRow.key == entry.template,
            TemplateVersionRow.locale == entry.locale,
            TemplateVersionRow.channel.in_([entry.channel or "default", "default"]),
            TemplateVersionRow.published_at <= entry.sent_at,
        )
        .order_by((TemplateVersionRow.channel == "default").asc(), TemplateVersionRow.published_at.desc())
        .limit(1)
    )
    version = (await session.execute(query)).scalar()
    if version is None:
        return TemplateUsed()
    return TemplateUsed(
        version=version.version, version_id=version.id, locale=version.locale, channel=version.channel
    )


async def message_detail(session: AsyncSession, tenant: str, delivery_id: int) -> MessageDetail | None:
    row = (await session.execute(entries_query(tenant).where(DeliveryRow.id == delivery_id))).one_or_none()
    if row is None:
        return None
    entry = to_entry(row)
    attempts = await session.execute(
        select(DeliveryAttemptRow)
        .where(DeliveryAttemptRow.delivery_id == delivery_id)
        .order_by(DeliveryAttemptRow.attempt)
    )
    callbacks = await session.execute(
        select(DeliveryEventRow)
        .where(DeliveryEventRow.delivery_id == delivery_id)
        .order_by(DeliveryEventRow.at, DeliveryEventRow.id)
    )
    return MessageDetail(
        entry=entry,
        attempts=[AttemptEntry.model_validate(a, from_attributes=True) for a in attempts.scalars()],
        callbacks=[CallbackEntry.model_validate(c, from_attributes=True) for c in callbacks.scalars()],
        template=await _template_used(session, tenant, entry),
    )


class ReceivedEvent(BaseModel):
    """An event the backend sent about one lifecycle, as accepted (and when the relay passed it on)."""

    type: str
    event_id: str
    status: str
    received_at: datetime
    routed_at: datetime | None = None
    happened_at: str | None = None
    sequence: int | None = None
    facts: dict[str, Any] = {}


# What a line of the timeline says about an event, beyond its type; the rest stays in the payload.
EVENT_FACTS = (
    "starts_at",
    "reason",
    "cancelled_by",
    "rating",
    "comment",
    "amount",
    "currency",
    "due_at",
    "lessons_left",
    "sender_name",
    "preview",
)


async def lifecycle_events(session: AsyncSession, tenant: str, workflow_id: str) -> list[ReceivedEvent]:
    query = (
        select(InboundEventRow)
        .where(InboundEventRow.tenant == tenant, InboundEventRow.workflow_id == workflow_id)
        .order_by(InboundEventRow.received_at, InboundEventRow.id)
        .limit(500)
    )
    found = []
    for row in (await session.execute(query)).scalars():
        payload = row.payload or {}
        data = payload.get("data") or {}
        found.append(
            ReceivedEvent(
                type=row.type,
                event_id=row.event_id,
                status=row.status,
                received_at=row.received_at,
                routed_at=row.routed_at,
                happened_at=payload.get("time"),
                sequence=payload.get("sequence"),
                facts={name: data[name] for name in EVENT_FACTS if data.get(name) not in (None, "")},
            )
        )
    return found


class RecentLifecycle(BaseModel):
    kind: str
    aggregate_id: str
    last_message_at: datetime
    messages: int


async def recent_lifecycles(
    session: AsyncSession, tenant: str, since: datetime, limit: int
) -> list[RecentLifecycle]:
    """The lifecycles that sent (or planned) something lately, most recent first."""
    last = func.max(DeliveryRow.created_at).label("last")
    query = (
        select(DeliveryRow.subject, last, func.count())
        .where(DeliveryRow.tenant == tenant, DeliveryRow.created_at >= since)
        .group_by(DeliveryRow.subject)
        .order_by(last.desc())
        .limit(limit)
    )
    found = []
    for subject, at, n in await session.execute(query):
        kind, _, aggregate_id = subject.partition(":")
        moment = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
        found.append(
            RecentLifecycle(kind=kind, aggregate_id=aggregate_id, last_message_at=moment, messages=n)
        )
    return found


class Console:
    """The console's read side over the store's engine: one short read-only session per call."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def search_deliveries(self, tenant: str, wanted: LogFilter) -> list[LogEntry]:
        async with self._sessions() as session:
            return await search_deliveries(session, tenant, wanted)

    async def message_detail(self, tenant: str, delivery_id: int) -> MessageDetail | None:
        async with self._sessions() as session:
            return await message_detail(session, tenant, delivery_id)

    async def lifecycle_events(self, tenant: str, workflow_id: str) -> list[ReceivedEvent]:
        async with self._sessions() as session:
            return await lifecycle_events(session, tenant, workflow_id)

    async def recent_lifecycles(self, tenant: str, since: datetime, limit: int = 30) -> list[RecentLifecycle]:
        async with self._sessions() as session:
            return await recent_lifecycles(session, tenant, since, limit)
