"""The store's own pydantic records, and the one place ORM rows become domain models."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Row

from domain.contacts import Contact
from domain.deliveries import Delivery, DeliveryStatus
from domain.settings import TenantSettings
from store.tables import ContactRow, DeliveryAttemptRow, DeliveryRow, TenantSettingsRow


class EventStatus(StrEnum):
    NEW = "new"
    RECEIVED = "received"
    ROUTED = "routed"
    IGNORED = "ignored"
    # Temporal refused it too many times: kept, with the reason, for staff (GET /v1/events/dead).
    DEAD = "dead"


class InboundEventKey(BaseModel):
    """A CloudEvent as far as deduplication cares: unique per tenant by (source, id).

    `payload` is the event its workflow is to receive; None for an event no workflow owns (a contact
    update), which is settled as soon as it is stored.
    """

    source: str
    event_id: str
    type: str
    subject: str | None = None
    workflow_id: str | None = None
    payload: dict[str, Any] | None = None


class PendingEvent(BaseModel):
    """An accepted event the relay has yet to deliver to its workflow."""

    tenant: str
    source: str
    event_id: str
    workflow_id: str
    payload: dict[str, Any]
    attempts: int = 0


class Lease(BaseModel):
    """Which relay holds outbox events, and until when: no other process delivers them meanwhile."""

    owner: str
    until: datetime


class DeadEvent(BaseModel):
    """An event Temporal refused too many times, as staff see it."""

    id: str
    source: str
    type: str
    subject: str | None = None
    workflow_id: str | None = None
    reason: str | None = None
    attempts: int
    received_at: datetime


class DeliveryAttempt(BaseModel):
    """One try at sending a delivery, on one channel through one provider."""

    id: int
    delivery_id: int
    attempt: int
    channel: str | None = None
    provider: str | None = None
    status: DeliveryStatus
    reason: str | None = None
    provider_message_id: str | None = None
    cost: float | None = None
    at: datetime


def to_delivery(row: DeliveryRow | Row[Any]) -> Delivery:
    """From the ORM row or a Core row of the same columns (an INSERT/UPDATE ... RETURNING)."""
    return Delivery.model_validate(row, from_attributes=True)


def to_attempt(row: DeliveryAttemptRow) -> DeliveryAttempt:
    return DeliveryAttempt.model_validate(row, from_attributes=True)


def to_settings(row: TenantSettingsRow | None) -> TenantSettings:
    return TenantSettings() if row is None else TenantSettings.model_validate(row.data)


def to_contact(row: ContactRow) -> Contact:
    return Contact.model_validate(row.data)
