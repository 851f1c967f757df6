"""The consent ledger's rules: append-only records, the latest that applies decides.

A record names a contact point (the phone, chat id or address it was given for), a channel (or
every channel), a category and whether consent was granted or revoked, with when, how (`source`),
the evidence (message id, the words) and who. Nothing is ever updated: a START after a STOP is a
new record, and the latest record that applies to a (channel, category, address) wins. A record
for an address the contact no longer has does not apply: a STOP from an old number does not
silence the new one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from domain.contacts import Channel, Contact
from domain.routing import reachable


class ConsentCategory(StrEnum):
    TRANSACTIONAL = "transactional"
    REMINDERS = "reminders"
    BILLING = "billing"
    MARKETING = "marketing"


class ConsentSource(StrEnum):
    EVENT = "event"
    KEYWORD = "keyword"
    BUTTON = "button"
    STAFF = "staff"
    IMPORT = "import"


ConsentStatus = Literal["granted", "revoked"]

# The router's categories (domain/routing.py TEMPLATE_CATEGORIES) in the ledger's words.
ROUTING_CATEGORIES: dict[ConsentCategory, tuple[str, ...]] = {
    ConsentCategory.TRANSACTIONAL: ("service", "feedback"),
    ConsentCategory.REMINDERS: ("reminders",),
    ConsentCategory.BILLING: ("payments",),
    ConsentCategory.MARKETING: ("marketing",),
}


class ConsentChange(BaseModel):
    """A record as it is asked for (an event, a keyword, staff); the store adds id and time."""

    contact_id: str
    category: ConsentCategory
    status: ConsentStatus
    channel: Channel | None = None
    contact_point: str | None = None
    source: ConsentSource
    evidence: dict[str, Any] = Field(default_factory=dict)
    actor: str = ""


class ConsentRecord(ConsentChange):
    id: int
    tenant: str
    at: datetime


def address_of(contact: Contact, channel: Channel) -> str | None:
    """The contact point a channel reaches: the phone for SMS and WhatsApp, the chat, the email."""
    if channel in (Channel.SMS, Channel.WHATSAPP):
        return contact.phone
    if channel is Channel.TELEGRAM:
        return contact.telegram_chat_id
    if channel is Channel.EMAIL:
        return contact.email
    return None


def _applies(record: ConsentRecord, channel: Channel, category: ConsentCategory, address: str | None) -> bool:
    return (
        record.category is category
        and record.channel in (None, channel)
        and (record.contact_point is None or record.contact_point == address)
    )


def allowed(
    records: Iterable[ConsentRecord], contact: Contact, channel: Channel, category: ConsentCategory
) -> bool:
    """False when the latest record that applies revokes; no record at all means allowed."""
    address = address_of(contact, channel)
    latest: ConsentRecord | None = None
    for record in records:
        if _applies(record, channel, category, address) and (latest is None or record.id > latest.id):
            latest = record
    return latest is None or latest.status == "granted"


def revoked_routes(records: list[ConsentRecord], contact: Contact) -> list[str]:
    """`channel:category` pairs (the router's categories) the ledger forbids for this contact."""
    pairs: list[str] = []
    for channel in Channel:
        for category, routed in ROUTING_CATEGORIES.items():
            if records and not allowed(records, contact, channel, category):
                pairs.extend(f"{channel.value}:{name}" for name in routed)
    return pairs


def with_consent(records: list[ConsentRecord], contact: Contact) -> Contact:
    """The contact as the router sees it under the ledger.

    Each revoked `channel:category` is kept off that channel; a category revoked on every channel
    that reaches the contact is an opt-out of it, so its messages are skipped with that reason
    rather than parked in the outbox.
    """
    if not records:
        # Learned, never taken from the backend's copy of the contact.
        return contact.model_copy(update={"consent_revoked": []})
    pairs = revoked_routes(records, contact)
    channels = reachable(contact)
    everywhere = [
        name
        for routed in ROUTING_CATEGORIES.values()
        for name in routed
        if channels and all(f"{channel.value}:{name}" in pairs for channel in channels)
    ]
    opted_out = [*contact.opted_out, *(name for name in everywhere if name not in contact.opted_out)]
    return contact.model_copy(update={"consent_revoked": pairs, "opted_out": opted_out})
