"""Workflow inputs, query answers and results, outside workflow modules so the sandbox passes them through."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from domain.appointment import AppointmentView
from domain.events import DomainEvent
from domain.planning import PlannedMessage, StepRecord
from domain.settings import TenantSettings


class LifecycleInput(BaseModel):
    """Every lifecycle workflow's input; continue-as-new carries events and done steps over."""

    tenant: str
    aggregate_id: str
    # Which lifecycle when one workflow type serves two (`invoice` or `balance` payments).
    kind: str = ""
    events: list[DomainEvent] = Field(default_factory=list)
    done: dict[str, StepRecord] = Field(default_factory=dict)
    settings: TenantSettings | None = None
    # Tests shrink this to see continue-as-new happen; production relies on the server's suggestion.
    history_limit: int | None = None
    # Which start of a reused workflow id this is (a hash of the event that started it): part of
    # every delivery's idempotency key, so a second low-balance episode is not "already sent".
    # None in runs started before it existed: their keys stay `{workflow_id}/{step}`.
    episode: str | None = None
    # The planning rules the run started under: a release that changes a planner's steps keeps the
    # old ones for runs that began before it (PLANNER_VERSION in workflows/routes.py).
    planner_version: int = 1
    # Ids of events applied in earlier runs of this chain (bounded), beside those still in `events`.
    seen_ids: list[str] = Field(default_factory=list)


class DeliveryFailed(BaseModel):
    """The `delivery_failed` signal: a provider said, after `sent`, that the message never arrived."""

    step: str
    channel: str
    delivery_id: int | None = None
    reason: str = ""


class LifecycleState(BaseModel):
    """The `state` query: what is true now and what is still planned."""

    status: str
    planned: list[PlannedMessage] = Field(default_factory=list)
    done: dict[str, StepRecord] = Field(default_factory=dict)
    events: int = 0
    closed: bool = False
    summary: dict[str, Any] = Field(default_factory=dict)
    # An event not planned for yet, a plan being made or a send in flight: what is planned may change.
    busy: bool = False


class AppointmentState(LifecycleState):
    view: AppointmentView | None = None


class LifecycleResult(BaseModel):
    status: str
    sent: int = 0
    skipped: int = 0
    failed: int = 0
