"""Workflow inputs, query answers and results, outside workflow modules so the sandbox passes them through."""

from __future__ import annotations

from pydantic import BaseModel, Field

from domain.appointment import AppointmentView, StepRecord
from domain.events import DomainEvent
from domain.planning import PlannedMessage
from domain.settings import TenantSettings


class AppointmentWorkflowInput(BaseModel):
    tenant: str
    appointment_id: str
    # Carried over on continue-as-new: the events applied so far and the steps already done.
    events: list[DomainEvent] = Field(default_factory=list)
    done: dict[str, StepRecord] = Field(default_factory=dict)
    settings: TenantSettings | None = None


class AppointmentState(BaseModel):
    """The `state` query: what is true now and what is still planned."""

    status: str
    view: AppointmentView | None = None
    planned: list[PlannedMessage] = Field(default_factory=list)
    done: dict[str, StepRecord] = Field(default_factory=dict)
    events: int = 0
    closed: bool = False


class AppointmentResult(BaseModel):
    status: str
    sent: int = 0
    skipped: int = 0
    failed: int = 0
