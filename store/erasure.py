"""Erasure of one contact (`DELETE /v1/contacts/{id}`): its personal data leaves the store.

What goes, in one transaction, within the contact's tenant only:

- the contact as the backend sent it, and what providers taught us (Telegram chat, dead addresses);
- the bodies and attachment contents of the messages sent to it, replaced by ERASED; the rows stay,
  so the delivery log still counts, bills and dedupes what went out;
- the text and sender of its replies;
- the evidence and contact point of its consent records; the records stay so that what the contact
  asked for still holds if the backend sends the same id again. A revocation without its contact
  point applies to the whole channel and a grant tied to ERASED reaches no address: both err on the
  side of not sending;
- the payload of every inbound event that carries the contact (as a patient, student, guardian,
  payer or sender). An event not yet delivered to its workflow never will be: it is `ignored`;
- its phone, email and chat ids wherever a provider's words quoted them (failure reasons, callback
  details, the consent ledger's actor).

What stays is what names no person: ids, statuses, times, templates, channels, costs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from store.records import EventStatus
from store.tables import (
    BundleItemRow,
    ConsentRow,
    ContactChannelRow,
    ContactRow,
    DeliveryAttemptRow,
    DeliveryEventRow,
    DeliveryRow,
    InboundEventRow,
    InboundReplyRow,
    utcnow,
)

ERASED = "[erased]"
# Where an event's data names a contact: the Contact models of domain/events.py, and consent events.
CONTACT_FIELDS = ("patient", "student", "guardian", "contact")
# Shorter strings are not searched for in free text: a 3-digit chat id would match any number.
MIN_QUOTED_ADDRESS = 5


class Erased(BaseModel):
    """What an erasure found and changed, row counts per kind."""

    contact: bool = False
    channels: bool = False
    deliveries: int = 0
    replies: int = 0
    consents: int = 0
    events: int = 0

    @property
    def found(self) -> bool:
        """Whether the tenant knew this contact at all."""
        return self.contact or self.channels


def carries(payload: dict[str, Any] | None, contact_id: str) -> bool:
    """Whether an inbound event's payload (a DomainEvent) names this contact."""
    data = (payload or {}).get("data")
    if not isinstance(data, dict):
        return False
    if data.get("contact_id") == contact_id:
        return True
    return any(
        isinstance(data.get(name), dict) and data[name].get("id") == contact_id for name in CONTACT_FIELDS
    )


def _addresses(contact: dict[str, Any], chat_id: str | None) -> list[str]:
    """The contact's phone, email, chat ids and push tokens: what a provider's message may quote."""
    found = [contact.get("phone"), contact.get("email"), contact.get("telegram_chat_id"), chat_id]
    found += list(contact.get("push_tokens") or [])
    unique = {str(value) for value in found if value and len(str(value)) >= MIN_QUOTED_ADDRESS}
    # Longest first: an address that contains another is replaced whole.
    return sorted(unique, key=len, reverse=True)


async def _scrub(
    session: AsyncSession,
    column: InstrumentedAttribute[str | None] | InstrumentedAttribute[str],
    where: Iterable[ColumnElement[bool]],
    addresses: list[str],
) -> None:
    for address in addresses:
        await session.execute(
            update(column.class_)
            .where(*where, column.contains(address, autoescape=True))
            .values({column.key: func.replace(column, address, ERASED)})
            .execution_options(synchronize_session=False)
        )


async def erase_contact(session: AsyncSession, tenant: str, contact_id: str) -> Erased:
    """Erase everything the store holds on the contact, in the caller's transaction."""
    erased = Erased()
    contact_row = await session.get(ContactRow, (tenant, contact_id), with_for_update=True)
    channels_row = await session.get(ContactChannelRow, (tenant, contact_id), with_for_update=True)
    addresses = _addresses(
        contact_row.data if contact_row else {}, channels_row.telegram_chat_id if channels_row else None
    )
    for row in (contact_row, channels_row):
        if row is not None:
            await session.delete(row)
    erased.contact, erased.channels = contact_row is not None, channels_row is not None

    erased.deliveries = await _redact_deliveries(session, tenant, contact_id, addresses)
    erased.replies = await _redact_replies(session, tenant, contact_id)
    erased.consents = await _redact_consents(session, tenant, contact_id, addresses)
    # A message held for a digest or a family reminder keeps a copy of the contact until it goes.
    await session.execute(
        delete(BundleItemRow).where(BundleItemRow.tenant == tenant, BundleItemRow.contact_id == contact_id)
    )
    erased.events = await _purge_events(session, tenant, contact_id)
    return erased


async def _redact_deliveries(
    session: AsyncSession, tenant: str, contact_id: str, addresses: list[str]
) -> int:
    mine = [DeliveryRow.tenant == tenant, DeliveryRow.contact_id == contact_id]
    rows = await session.execute(
        select(DeliveryRow.id, DeliveryRow.body, DeliveryRow.attachments).where(*mine)
    )
    redacted = [
        {
            "id": delivery_id,
            "body": None if body is None else ERASED,
            "attachments": [{**item, "content": ERASED} for item in attachments or []],
        }
        for delivery_id, body, attachments in rows
        if body not in (None, ERASED) or any(item.get("content") != ERASED for item in attachments or [])
    ]
    if redacted:
        await session.execute(update(DeliveryRow), redacted)  # by primary key, one statement
    ids = select(DeliveryRow.id).where(*mine).scalar_subquery()
    await _scrub(session, DeliveryRow.reason, mine, addresses)
    await _scrub(session, DeliveryAttemptRow.reason, [DeliveryAttemptRow.delivery_id.in_(ids)], addresses)
    await _scrub(session, DeliveryEventRow.detail, [DeliveryEventRow.delivery_id.in_(ids)], addresses)
    return len(redacted)


async def _redact_replies(session: AsyncSession, tenant: str, contact_id: str) -> int:
    result = await session.execute(
        update(InboundReplyRow)
        .where(InboundReplyRow.tenant == tenant, InboundReplyRow.contact_id == contact_id)
        .values(text=ERASED, sender=ERASED)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def _redact_consents(session: AsyncSession, tenant: str, contact_id: str, addresses: list[str]) -> int:
    mine = [ConsentRow.tenant == tenant, ConsentRow.contact_id == contact_id]
    rows = (await session.execute(select(ConsentRow).where(*mine))).scalars().all()
    for row in rows:
        row.evidence = {}
        if row.contact_point is not None:
            row.contact_point = None if row.status == "revoked" else ERASED
    await session.flush()
    await _scrub(session, ConsentRow.actor, mine, addresses)
    return len(rows)


async def _purge_events(session: AsyncSession, tenant: str, contact_id: str) -> int:
    """Forget the payloads naming the contact; an undelivered one is settled as `ignored`."""
    rows = await session.execute(
        select(InboundEventRow.id, InboundEventRow.status, InboundEventRow.payload).where(
            InboundEventRow.tenant == tenant, InboundEventRow.payload.is_not(None)
        )
    )
    settled = {EventStatus.ROUTED.value, EventStatus.IGNORED.value}
    purged: list[int] = []
    unsent: list[int] = []
    for event_id, status, payload in rows:
        if carries(payload, contact_id):
            (purged if status in settled else unsent).append(event_id)
    if purged:
        await session.execute(
            update(InboundEventRow)
            .where(InboundEventRow.id.in_(purged))
            .values(payload=None)
            .execution_options(synchronize_session=False)
        )
    if unsent:
        await session.execute(
            update(InboundEventRow)
            .where(InboundEventRow.id.in_(unsent))
            .values(
                payload=None,
                status=EventStatus.IGNORED.value,
                routed_at=utcnow(),
                leased_by=None,
                lease_until=None,
                reason="the contact was erased before its workflow received the event",
            )
            .execution_options(synchronize_session=False)
        )
    return len(purged) + len(unsent)


class Erasure:
    """Contact erasure over the Store's engine: one transaction per contact."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def erase(self, tenant: str, contact_id: str) -> Erased:
        async with self._sessions.begin() as session:
            return await erase_contact(session, tenant, contact_id)
