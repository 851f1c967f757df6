"""The recall lifecycle as pure functions: a due date, a ladder of invitations, held by any booking.

A recall (`recall:{tenant}:{patient_id}:{recall_type}`) is armed by `recall.set` (a due date from the
clinic's system) or by a completed visit of a service with a recall interval (due = that visit plus
the interval, on the patient's calendar). From the due date it invites the patient on the tenant's
ladder (e.g. 0, +14 d, +30 d) in their send window, with the clinic's booking link. While the
patient has an appointment that is not yet past, no invitation goes; a completed visit re-arms the
recall (a new cycle), a cancelled one lets the current invitation go; `recall.dismissed` ends it.

What the appointment lifecycle tells a recall arrives as `recall.visit` (RecallVisit): an internal
event, never accepted from a backend (it is not in the catalogue).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from domain.contacts import Contact
from domain.events import DomainEvent, RecallDismissed, RecallSet, fold_into
from domain.periods import add_period
from domain.planning import LifecyclePlan, MessageFacts, Planner, StepRecord
from domain.quiet_hours import before_by
from domain.settings import TenantSettings

VISIT = "recall.visit"
ORPHAN_TTL = timedelta(days=7)
# A booked appointment holds invitations until this long after its start: a visit the backend never
# reports as completed or cancelled stops holding the recall then.
BOOKED_GRACE = timedelta(days=1)
# The last invitation may still go this long after its moment (a worker down, quiet hours).
LAST_INVITE_LIFETIME = timedelta(days=14)
TEMPLATE = "recall_invitation"


class RecallVisit(BaseModel):
    """`recall.visit`: what the appointment lifecycle saw happen to one of the patient's visits."""

    appointment_id: str
    state: Literal["booked", "completed", "ended"]
    starts_at: datetime | None = None
    # When it was booked, completed or ended.
    at: datetime
    patient: Contact | None = None
    # On `completed` of a service with a recall interval: the period to the next due date.
    interval: str | None = None


class RecallStatus(StrEnum):
    AWAITING_DETAILS = "awaiting_details"
    OPEN = "open"
    SUPPRESSED = "suppressed"
    DISMISSED = "dismissed"


class RecallView(BaseModel):
    recall_type: str = ""
    patient: Contact | None = None
    due_at: datetime | None = None
    # When this cycle's due date became known: invitations due before it are not all sent late.
    armed_at: datetime | None = None
    cycle: int = 0
    # The patient's appointments not yet completed or ended: id -> start.
    booked: dict[str, datetime] = Field(default_factory=dict)
    last_visit_at: datetime | None = None
    dismissed_at: datetime | None = None
    first_event_at: datetime | None = None

    @property
    def status(self) -> RecallStatus:
        if self.dismissed_at is not None:
            return RecallStatus.DISMISSED
        if self.patient is None or self.due_at is None:
            return RecallStatus.AWAITING_DETAILS
        return RecallStatus.SUPPRESSED if self.booked else RecallStatus.OPEN

    @property
    def held_until(self) -> datetime | None:
        """Until when a booked appointment holds the invitations (None: nothing booked)."""
        return max((start + BOOKED_GRACE for start in self.booked.values()), default=None)


def _arm(view: RecallView, due_at: datetime, at: datetime) -> None:
    view.due_at, view.armed_at, view.dismissed_at = due_at, at, None
    view.cycle += 1


def apply(view: RecallView, event: DomainEvent) -> None:
    at = event.received_at
    view.first_event_at = view.first_event_at or at
    if event.type == VISIT:
        visit = RecallVisit.model_validate(event.data)
        view.patient = visit.patient or view.patient
        if visit.state == "booked" and visit.starts_at is not None:
            view.booked[visit.appointment_id] = visit.starts_at
            return
        view.booked.pop(visit.appointment_id, None)
        if visit.state == "completed":
            view.last_visit_at = visit.at
            if visit.interval and view.patient is not None:
                _arm(view, add_period(visit.at, visit.interval, view.patient.timezone), at)
        return
    data = event.parsed()
    if isinstance(data, RecallSet):
        view.patient, view.recall_type = data.patient, data.recall_type
        _arm(view, data.due_at, at)
    elif isinstance(data, RecallDismissed):
        view.recall_type = data.recall_type
        view.dismissed_at = at


def fold(events: list[DomainEvent]) -> RecallView:
    return fold_into(RecallView(), events, apply)


class RecallSummary(BaseModel):
    """What a recall invitation's template may say (`recall.*`)."""

    recall_type: str
    due_at: datetime
    booking_url: str = ""
    last_visit_at: datetime | None = None


class RecallPlan(LifecyclePlan):
    view: RecallView
    booking_url: str = ""

    @property
    def status(self) -> str:
        return self.view.status.value

    def send_fields(self) -> dict[str, Any]:
        if self.view.due_at is None:
            return {}
        summary = RecallSummary(
            recall_type=self.view.recall_type,
            due_at=self.view.due_at,
            booking_url=self.booking_url,
            last_visit_at=self.view.last_visit_at,
        )
        return {"recall": summary}


def plan_recall(view: RecallView, settings: TenantSettings, done: Mapping[str, StepRecord]) -> RecallPlan:
    """Invitations on the ladder from the due date, in the patient's hours, none while a visit is booked."""
    if view.dismissed_at is not None:
        return RecallPlan(view=view, close_at=view.dismissed_at)
    patient, due_at, armed_at = view.patient, view.due_at, view.armed_at
    if patient is None or due_at is None or armed_at is None:
        assert view.first_event_at is not None
        return RecallPlan(view=view, close_at=view.first_event_at + ORPHAN_TTL)
    p = Planner(settings, done, staff_timezone=settings.timezone)
    moments = [before_by(due_at, -offset, patient.timezone) for offset in settings.recall_ladder]
    # A due date imported long past: of the invitations already due, only the latest goes (now).
    missed = [i for i, moment in enumerate(moments) if moment < armed_at]
    held_until = view.held_until
    count = len(moments)
    for i, moment in enumerate(moments):
        step = f"invite-{i + 1}-c{view.cycle}"
        if i in missed[:-1]:
            continue
        due = max(moment, armed_at)
        if held_until is not None and due <= held_until:
            continue  # a future appointment: no invitation while it stands
        expires = moments[i + 1] if i + 1 < count else moment + LAST_INVITE_LIFETIME
        p.to_contact(
            step,
            TEMPLATE,
            "patient",
            patient,
            due,
            deadline=None,
            expires_at=max(expires, due + timedelta(hours=1)),
            facts=MessageFacts(nudge=i + 1, nudges=count),
        )
    close_at = moments[-1] + LAST_INVITE_LIFETIME
    if held_until is not None:
        close_at = max(close_at, held_until)
    return RecallPlan(view=view, messages=p.messages, close_at=close_at, booking_url=settings.booking_url)


def recall_of(data: BaseModel) -> str | None:
    """The aggregate id `{patient_id}:{recall_type}` of a `recall.*` event's data, else None."""
    if isinstance(data, RecallSet):
        return f"{data.patient.id}:{data.recall_type}"
    if isinstance(data, RecallDismissed):
        return f"{data.patient_id}:{data.recall_type}"
    return None
