"""The delivery log's records: one row per message a lifecycle decided to send."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class DeliveryStatus(StrEnum):
    PLANNED = "planned"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    SKIPPED = "skipped"


FINAL_STATUSES = frozenset(
    {DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ, DeliveryStatus.SKIPPED}
)


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
    created_at: datetime
    updated_at: datetime

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


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
