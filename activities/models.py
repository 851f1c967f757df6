"""Inputs and results of every activity: one pydantic model each, defaulted for old histories."""

from __future__ import annotations

from pydantic import BaseModel, Field

from domain.appointment import StepRecord
from domain.contacts import Channel
from domain.events import Appointment, DomainEvent
from domain.planning import PlannedMessage
from domain.settings import DEFAULT_CHANNEL_COSTS, TenantSettings


class LoadSettingsInput(BaseModel):
    tenant: str


class PlanAppointmentInput(BaseModel):
    events: list[DomainEvent] = Field(default_factory=list)
    settings: TenantSettings = Field(default_factory=TenantSettings)
    done: dict[str, StepRecord] = Field(default_factory=dict)


class SendMessageInput(BaseModel):
    tenant: str
    workflow_id: str
    subject: str
    message: PlannedMessage
    appointment: Appointment | None = None
    default_locale: str = "en"
    channel_costs: dict[Channel, float] = Field(default_factory=lambda: dict(DEFAULT_CHANNEL_COSTS))


class SendMessageResult(BaseModel):
    delivery_id: int | None = None
    status: str
    channel: str | None = None
    provider: str | None = None
    reason: str | None = None
