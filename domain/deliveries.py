"""The delivery log's records: one row per message a lifecycle decided to send."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class DeliveryStatus(StrEnum):
    """A delivery row is a compare-and-set state machine:

        planned ──claim──▶ sending ──▶ sent ──▶ delivered ──▶ read
           ▲                 │  │  └──▶ failed   (every channel refused it, or a `failed` callback)
           └──certainly not──┘  └───▶ unknown  (the provider may have it; nobody can tell)
              sent (released)
        planned ──▶ skipped  (its moment passed, nobody wants it, opted out)

    `sending` is taken atomically just before a provider call and names the channel and provider
    being called. A message with no row yet is written straight into `sending` at its claim, or
    straight at its outcome when it is skipped or fails before any call: the unique idempotency key
    makes that write the claim, as the compare-and-set on `planned` does for a row that waits.
    A retry that finds `sending` does not know whether the first call went out: it asks the
    provider where the provider can tell, else follows the template's duplicate policy.
    """

    PLANNED = "planned"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"


# Statuses no retry changes: the message went, was refused everywhere, was dropped, or is in doubt.
FINAL_STATUSES = frozenset(
    {
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.READ,
        DeliveryStatus.SKIPPED,
        DeliveryStatus.FAILED,
        DeliveryStatus.UNKNOWN,
    }
)


# Messages whose repeat costs nothing worse than a second ping: a staff alert, a chat nudge that
# only says "you have unread messages". After an unknown outcome these are sent again; anything
# else (a reminder, a confirmation, a payment nudge) is recorded `unknown` and staff are told.
HARMLESS_REPEATS = frozenset({"chat_unread_push"})


def resend_is_harmless(template: str, audience: str) -> bool:
    return audience == "staff" or template in HARMLESS_REPEATS


class Attachment(BaseModel):
    filename: str
    content_type: str
    content: str


class DeliveryDraft(BaseModel):
    """What is known before anything leaves: recorded first, under the idempotency key."""

    tenant: str
    idempotency_key: str
    subject: str
    workflow_id: str
    step: str
    contact_id: str
    template: str
    scheduled_for: datetime
    # Its consent category, counted by the cadence (domain/cadence.py); None for staff messages.
    category: str | None = None


class Delivery(DeliveryDraft):
    id: int
    channel: str | None = None
    provider: str | None = None
    locale: str | None = None
    body: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    status: DeliveryStatus = DeliveryStatus.PLANNED
    reason: str | None = None
    provider_message_id: str | None = None
    cost: float | None = None
    sent_at: datetime | None = None
    template_version_id: int | None = None
    # While `sending`: when the attempt that claimed it ends; before then it may still record.
    sending_until: datetime | None = None
    created_at: datetime
    updated_at: datetime

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"sending_until"})


class DeliveryOutcome(BaseModel):
    """What happened to one attempt; written onto the delivery row."""

    status: DeliveryStatus
    channel: str | None = None
    provider: str | None = None
    locale: str | None = None
    body: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    reason: str | None = None
    provider_message_id: str | None = None
    cost: float | None = None
    sent_at: datetime | None = None
    template_version_id: int | None = None
    # A claim (`sending`): when the claiming attempt ends. Any other outcome ends the claim.
    sending_until: datetime | None = None


class SubjectKind(StrEnum):
    """What a delivery is about; its `subject` is written `<kind>:<aggregate id>`."""

    APPOINTMENT = "appointment"
    LESSON = "lesson"
    INVOICE = "invoice"
    BALANCE = "balance"
    CHAT = "chat"
    RECALL = "recall"
    SLOT = "slot"
    NOTIFICATION = "notification"


def subjects_for(subject: str, kind: SubjectKind | None = None) -> list[str]:
    """The stored subjects an aggregate id as the backend sent it (`a-1`) may stand for.

    `appointment:a-1` still names itself; with `kind`, only that kind's subject is meant.
    """
    if kind is not None:
        prefix = f"{kind.value}:"
        return [subject] if subject.startswith(prefix) else [f"{prefix}{subject}"]
    return [subject, *(f"{each.value}:{subject}" for each in SubjectKind)]
