"""The consent ledger and the replies patients write back, as recorded."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Row, bindparam, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.consent import ConsentChange, ConsentRecord
from domain.contacts import Contact
from domain.deliveries import Delivery, DeliveryStatus
from store.records import to_delivery
from store.tables import (
    ConsentRow,
    ContactChannelRow,
    ContactRow,
    DeliveryRow,
    InboundReplyRow,
    core,
    insert_for,
    utcnow,
)

ANSWERABLE = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ)


class InboundReply(BaseModel):
    """A free-text reply and what it did (`outcome`, for people: "declined the visit", "to staff")."""

    id: int | None = None
    tenant: str | None = None
    contact_id: str | None = None
    channel: str
    provider: str
    message_id: str
    sender: str
    text: str
    intent: str
    delivery_id: int | None = None
    outcome: str = ""
    at: datetime | None = None


# Read on every send: built once on the Core table.
_LEDGER = core(ConsentRow)
CONSENTS_OF = (
    select(_LEDGER)
    .where(_LEDGER.c.tenant == bindparam("tenant"), _LEDGER.c.contact_id == bindparam("contact_id"))
    .order_by(_LEDGER.c.id)
)


def _record(row: ConsentRow | Row[Any]) -> ConsentRecord:
    return ConsentRecord.model_validate(row, from_attributes=True)


async def append_consents(
    session: AsyncSession, tenant: str, changes: Sequence[ConsentChange], at: datetime | None = None
) -> list[ConsentRecord]:
    rows = [
        ConsentRow(
            tenant=tenant,
            contact_id=change.contact_id,
            contact_point=change.contact_point,
            channel=change.channel.value if change.channel else None,
            category=change.category.value,
            status=change.status,
            source=change.source.value,
            evidence=change.evidence,
            actor=change.actor,
            at=at or utcnow(),
        )
        for change in changes
    ]
    session.add_all(rows)
    await session.flush()
    return [_record(row) for row in rows]


async def consents(session: AsyncSession, tenant: str, contact_id: str) -> list[ConsentRecord]:
    """Every record of the contact, oldest first."""
    rows = await session.execute(CONSENTS_OF, {"tenant": tenant, "contact_id": contact_id})
    return [_record(row) for row in rows.all()]


async def contacts_with_phone(
    session: AsyncSession, phone: str, tenant: str | None
) -> list[tuple[str, Contact]]:
    """(tenant, contact) for every stored contact with this number, in one tenant or in all."""
    query = select(ContactRow.tenant, ContactRow.data).where(ContactRow.data["phone"].as_string() == phone)
    if tenant is not None:
        query = query.where(ContactRow.tenant == tenant)
    return [(t, Contact.model_validate(data)) for t, data in (await session.execute(query)).all()]


async def contacts_with_chat(session: AsyncSession, chat_id: str) -> list[tuple[str, Contact]]:
    """(tenant, contact) for every contact linked to this Telegram chat, by /start or by the backend."""
    linked = select(ContactChannelRow.tenant, ContactChannelRow.contact_id).where(
        ContactChannelRow.telegram_chat_id == chat_id
    )
    sent = select(ContactRow.tenant, ContactRow.id).where(
        ContactRow.data["telegram_chat_id"].as_string() == chat_id
    )
    keys = {(t, c) for t, c in (await session.execute(linked)).all()} | {
        (t, c) for t, c in (await session.execute(sent)).all()
    }
    found = []
    for tenant, contact_id in sorted(keys):
        row = await session.get(ContactRow, (tenant, contact_id))
        contact = Contact.model_validate(row.data) if row else Contact(id=contact_id)
        found.append((tenant, contact.model_copy(update={"telegram_chat_id": chat_id})))
    return found


async def last_answerable(
    session: AsyncSession,
    contacts: Collection[tuple[str, str]],
    channel: str,
    templates: Collection[str] | None,
) -> Delivery | None:
    """The newest message (of these templates) that went to one of these (tenant, contact) on the channel."""
    if not contacts:
        return None
    query = (
        select(DeliveryRow)
        .where(
            tuple_(DeliveryRow.tenant, DeliveryRow.contact_id).in_(list(contacts)),
            DeliveryRow.channel == channel,
            DeliveryRow.status.in_([status.value for status in ANSWERABLE]),
            DeliveryRow.template.in_(list(templates))
            if templates is not None
            else DeliveryRow.id.is_not(None),
        )
        .order_by(DeliveryRow.sent_at.desc(), DeliveryRow.id.desc())
        .limit(1)
    )
    row = (await session.execute(query)).scalar_one_or_none()
    return None if row is None else to_delivery(row)


async def claim_reply(session: AsyncSession, reply: InboundReply) -> InboundReply | None:
    """Record the reply once per (provider, message id); None when it was acted on before.

    A reply recorded but never settled (the process died while acting on it) is handed out again:
    what acting does is idempotent (event ids, delivery keys, the ledger's latest state), so the
    provider's redelivery finishes the job rather than losing the answer.
    """
    values = reply.model_dump(exclude={"id", "at"}) | {"at": reply.at or utcnow(), "outcome": ""}
    insert = insert_for(session, InboundReplyRow).values(**values)
    inserted = await session.execute(
        insert.on_conflict_do_nothing(index_elements=["provider", "message_id"]).returning(InboundReplyRow.id)
    )
    new_id = inserted.scalar_one_or_none()
    if new_id is not None:
        return reply.model_copy(update={"id": new_id, "at": values["at"]})
    row = (
        await session.execute(
            select(InboundReplyRow).where(
                InboundReplyRow.provider == reply.provider, InboundReplyRow.message_id == reply.message_id
            )
        )
    ).scalar_one()
    return None if row.outcome else InboundReply.model_validate(row, from_attributes=True)


async def settle_reply(session: AsyncSession, reply_id: int, intent: str, outcome: str) -> None:
    await session.execute(
        update(InboundReplyRow).where(InboundReplyRow.id == reply_id).values(intent=intent, outcome=outcome)
    )


async def replies(
    session: AsyncSession, tenant: str, *, intent: str | None = None, limit: int = 100
) -> list[InboundReply]:
    """The tenant's replies, newest first; `intent="unknown"` is what staff must read."""
    query = select(InboundReplyRow).where(InboundReplyRow.tenant == tenant)
    if intent is not None:
        query = query.where(InboundReplyRow.intent == intent)
    rows = (await session.execute(query.order_by(InboundReplyRow.id.desc()).limit(limit))).scalars()
    return [InboundReply.model_validate(row, from_attributes=True) for row in rows]


class Ledger:
    """The consent ledger and the replies over the Store's engine, one short transaction per call."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def append(self, tenant: str, changes: Sequence[ConsentChange]) -> list[ConsentRecord]:
        async with self._sessions.begin() as session:
            return await append_consents(session, tenant, changes)

    async def consents(self, tenant: str, contact_id: str) -> list[ConsentRecord]:
        async with self._sessions() as session:
            return await consents(session, tenant, contact_id)

    async def contacts_with_phone(self, phone: str, tenant: str | None = None) -> list[tuple[str, Contact]]:
        async with self._sessions() as session:
            return await contacts_with_phone(session, phone, tenant)

    async def contacts_with_chat(self, chat_id: str) -> list[tuple[str, Contact]]:
        async with self._sessions() as session:
            return await contacts_with_chat(session, chat_id)

    async def last_answerable(
        self, contacts: Collection[tuple[str, str]], channel: str, templates: Collection[str] | None
    ) -> Delivery | None:
        async with self._sessions() as session:
            return await last_answerable(session, contacts, channel, templates)

    async def claim_reply(self, reply: InboundReply) -> InboundReply | None:
        async with self._sessions.begin() as session:
            return await claim_reply(session, reply)

    async def settle_reply(self, reply_id: int, intent: str, outcome: str) -> None:
        async with self._sessions.begin() as session:
            await settle_reply(session, reply_id, intent, outcome)

    async def replies(
        self, tenant: str, *, intent: str | None = None, limit: int = 100
    ) -> list[InboundReply]:
        async with self._sessions() as session:
            return await replies(session, tenant, intent=intent, limit=limit)
