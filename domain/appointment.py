"""The appointment lifecycle as pure functions: fold events into a view, plan the messages."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel

from domain.contacts import Contact
from domain.events import (
    Appointment,
    AppointmentCancelled,
    AppointmentRejected,
    AppointmentRescheduled,
    DomainEvent,
    FeedbackSubmitted,
    fold_into,
)
from domain.planning import (
    CalendarInvite,
    LifecyclePlan,
    MessageFacts,
    Planner,
    StepRecord,
)
from domain.quiet_hours import is_open, next_open
from domain.settings import TenantSettings

# A lifecycle that never learns what it is about (only a stray event arrived) ends after this.
ORPHAN_TTL = timedelta(days=7)
NO_SHOW_NOTICE_TTL = timedelta(days=2)


class AppointmentStatus(StrEnum):
    AWAITING_DETAILS = "awaiting_details"
    PENDING = "pending_confirmation"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    NO_SHOW = "no_show"


CLOSED = frozenset({AppointmentStatus.REJECTED, AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW})
ENDED = CLOSED | {AppointmentStatus.COMPLETED}


class AppointmentView(BaseModel):
    """What is true of an appointment once every event is applied in `sequence` order."""

    status: AppointmentStatus = AppointmentStatus.AWAITING_DETAILS
    details: Appointment | None = None
    schedule_version: int = 0
    schedule_known_at: datetime | None = None
    previous_starts_at: datetime | None = None
    first_event_at: datetime | None = None
    requested_at: datetime | None = None
    confirmed_at: datetime | None = None
    status_at: datetime | None = None
    cancelled_by: str | None = None
    reason: str = ""
    attendance: Literal["confirmed", "declined"] | None = None
    attendance_at: datetime | None = None
    rating: int | None = None
    comment: str = ""
    feedback_at: datetime | None = None

    @property
    def starts_at(self) -> datetime | None:
        return self.details.starts_at if self.details else None

    @property
    def ends_at(self) -> datetime | None:
        if self.details is None:
            return None
        return self.details.starts_at + timedelta(minutes=self.details.duration_minutes)


def _with_location_timezone(appointment: Appointment) -> Appointment:
    patient = appointment.patient
    if "timezone" not in patient.model_fields_set:
        patient = patient.model_copy(update={"timezone": appointment.location.timezone})
    return appointment.model_copy(update={"patient": patient})


def _set_schedule(view: AppointmentView, starts_at: datetime, duration: int, at: datetime) -> None:
    details = view.details
    assert details is not None
    if view.schedule_known_at is not None and (starts_at, duration) != (
        details.starts_at,
        details.duration_minutes,
    ):
        view.previous_starts_at = details.starts_at
        view.schedule_version += 1
        view.schedule_known_at = at
    elif view.schedule_known_at is None:
        view.schedule_known_at = at
    view.details = details.model_copy(update={"starts_at": starts_at, "duration_minutes": duration})


def _set_status(view: AppointmentView, status: AppointmentStatus, at: datetime) -> None:
    view.status = status
    view.status_at = at


def apply(view: AppointmentView, event: DomainEvent) -> None:
    at = event.received_at
    view.first_event_at = view.first_event_at or at
    data = event.parsed()
    status = view.status
    if isinstance(data, Appointment):
        incoming = _with_location_timezone(data)
        # Details are replaced; the start time goes through _set_schedule so a change is noticed.
        view.details = (
            incoming
            if view.details is None
            else incoming.model_copy(
                update={
                    "starts_at": view.details.starts_at,
                    "duration_minutes": view.details.duration_minutes,
                }
            )
        )
        _set_schedule(view, incoming.starts_at, incoming.duration_minutes, at)
        if event.type == "appointment.requested":
            view.requested_at = view.requested_at or at
            if status is AppointmentStatus.AWAITING_DETAILS:
                _set_status(view, AppointmentStatus.PENDING, at)
        elif status in (AppointmentStatus.AWAITING_DETAILS, AppointmentStatus.PENDING):
            view.confirmed_at = at
            _set_status(view, AppointmentStatus.CONFIRMED, at)
    elif isinstance(data, AppointmentRescheduled):
        if status not in ENDED and view.details is not None:
            _set_schedule(view, data.starts_at, data.duration_minutes, at)
    elif isinstance(data, AppointmentCancelled):
        if status not in ENDED:
            view.cancelled_by, view.reason = data.cancelled_by, data.reason
            _set_status(view, AppointmentStatus.CANCELLED, at)
    elif isinstance(data, AppointmentRejected):
        if status not in ENDED:
            view.reason = data.reason
            _set_status(view, AppointmentStatus.REJECTED, at)
    elif isinstance(data, FeedbackSubmitted):
        view.rating, view.comment, view.feedback_at = data.rating, data.comment, at
    elif event.type == "appointment.completed":
        if status not in (
            AppointmentStatus.CANCELLED,
            AppointmentStatus.REJECTED,
            AppointmentStatus.COMPLETED,
        ):
            _set_status(view, AppointmentStatus.COMPLETED, at)
    elif event.type == "appointment.no_show":
        if status not in ENDED:
            _set_status(view, AppointmentStatus.NO_SHOW, at)
    elif event.type in ("attendance.confirmed", "attendance.declined") and status not in ENDED:
        if event.data.get("schedule_version", view.schedule_version) != view.schedule_version:
            return  # an answer about a time that has moved since (api/answers.py tells the patient)
        view.attendance = "confirmed" if event.type == "attendance.confirmed" else "declined"
        view.attendance_at = at


def fold(events: list[DomainEvent]) -> AppointmentView:
    return fold_into(AppointmentView(), events, apply)


class AppointmentPlan(LifecyclePlan):
    view: AppointmentView
    # The patient's open recalls when the plan was made (activities/planning.py): with none, a booking
    # or its end tells nobody (workflows/appointment.py). None: not read (plans recorded before it).
    open_recalls: list[str] | None = None

    @property
    def status(self) -> str:
        return self.view.status.value

    def send_fields(self) -> dict[str, Any]:
        return {"appointment": self.view.details}


def is_urgent_booking(view: AppointmentView, settings: TenantSettings) -> bool:
    """Booked outside business hours for a start soon after the next opening: staff must see it now."""
    assert view.details is not None and view.requested_at is not None
    tz = view.details.location.timezone
    if is_open(view.requested_at, settings.business_hours, tz):
        return False
    opening = next_open(view.requested_at, settings.business_hours, tz)
    return view.details.starts_at <= opening + settings.early_booking_window


class _Planner(Planner):
    def __init__(
        self, view: AppointmentView, settings: TenantSettings, done: Mapping[str, StepRecord]
    ) -> None:
        assert view.details is not None
        super().__init__(settings, done, staff_timezone=view.details.location.timezone)
        self.view = view
        self.details = view.details
        self.patient: Contact = view.details.patient
        self.starts_at = view.details.starts_at

    def to_patient(
        self,
        step: str,
        template: str,
        due: datetime,
        *,
        deadline: datetime | None,
        expires_at: datetime | None,
        quiet: bool = True,
        facts: MessageFacts | None = None,
        invite: CalendarInvite | None = None,
    ) -> None:
        self.to_contact(
            step,
            template,
            "patient",
            self.patient,
            due,
            deadline=deadline,
            expires_at=expires_at,
            quiet=quiet,
            facts=facts,
            invite=invite,
        )

    def invite(self, *, cancelled: bool = False) -> CalendarInvite:
        d = self.details
        return CalendarInvite(
            uid=f"{d.appointment_id}@nudgeflow",
            starts_at=d.starts_at,
            ends_at=d.starts_at + timedelta(minutes=d.duration_minutes),
            summary=f"{d.service.name} — {d.doctor.name}",
            location=f"{d.location.name}, {d.location.address}".strip(", "),
            timezone=d.location.timezone,
            sequence=self.view.schedule_version,
            cancelled=cancelled,
        )


def plan_appointment(
    view: AppointmentView, settings: TenantSettings, done: Mapping[str, StepRecord]
) -> AppointmentPlan:
    """Every message the appointment still calls for, each with its moment or its skip reason."""
    if view.details is None:
        first = view.first_event_at
        assert first is not None
        return AppointmentPlan(view=view, close_at=first + ORPHAN_TTL)
    p = _Planner(view, settings, done)
    status, starts_at = view.status, p.starts_at
    if status is AppointmentStatus.PENDING:
        _plan_pending(p)
    elif status is AppointmentStatus.CONFIRMED:
        _plan_confirmed(p)
    elif status is AppointmentStatus.CANCELLED and any(k in done for k in ("booking_received", "confirmed")):
        assert view.status_at is not None
        p.to_patient(
            "cancelled",
            "appointment_cancelled",
            view.status_at,
            deadline=starts_at,
            expires_at=starts_at,
            facts=MessageFacts(cancelled_by=view.cancelled_by, reason=view.reason),
            invite=p.invite(cancelled=True) if p.sent("confirmed") else None,
        )
    elif status is AppointmentStatus.REJECTED:
        assert view.status_at is not None
        p.to_patient(
            "rejected",
            "appointment_rejected",
            view.status_at,
            deadline=starts_at,
            expires_at=starts_at,
            facts=MessageFacts(reason=view.reason),
        )
    elif status is AppointmentStatus.NO_SHOW:
        assert view.status_at is not None
        p.to_patient(
            "missed",
            "appointment_missed",
            view.status_at,
            deadline=None,
            expires_at=view.status_at + NO_SHOW_NOTICE_TTL,
        )
    elif status is AppointmentStatus.COMPLETED:
        _plan_feedback(p)
    if view.rating is not None and view.rating <= settings.low_rating_threshold and view.feedback_at:
        p.to_staff(
            "low_rating",
            "staff_low_rating",
            view.feedback_at,
            facts=MessageFacts(rating=view.rating, comment=view.comment),
        )
    return AppointmentPlan(view=view, messages=p.messages, close_at=_close_at(view, settings))


def _plan_pending(p: _Planner) -> None:
    view, requested_at = p.view, p.view.requested_at
    assert requested_at is not None
    urgent = is_urgent_booking(view, p.settings)
    # The patient has just booked: the answer to their own action is not held by quiet hours.
    p.to_patient(
        "booking_received",
        "booking_received",
        requested_at,
        deadline=None,
        expires_at=p.starts_at,
        quiet=False,
    )
    p.to_staff("to_confirm", "staff_booking_to_confirm", requested_at, urgent=urgent, expires_at=p.starts_at)
    overdue = requested_at + p.settings.confirmation_sla
    p.to_staff(
        "confirmation_overdue",
        "staff_confirmation_overdue",
        overdue,
        urgent=urgent,
        expires_at=p.starts_at,
        facts=MessageFacts(urgent=urgent, waiting=p.settings.confirmation_sla),
    )


def _plan_confirmed(p: _Planner) -> None:
    view, starts_at = p.view, p.starts_at
    assert view.confirmed_at is not None and view.schedule_known_at is not None
    p.to_patient(
        "confirmed",
        "appointment_confirmed",
        view.confirmed_at,
        deadline=starts_at,
        expires_at=starts_at,
        invite=p.invite(),
    )
    version = view.schedule_version
    # Only a patient who was told the old time needs to hear of the move (never moved: nothing to
    # look up, so sending the confirmation does not call for planning again).
    confirmed = p.done.get("confirmed") if version else None
    if confirmed is not None and p.sent("confirmed") and confirmed.at < view.schedule_known_at:
        p.to_patient(
            f"rescheduled-v{version}",
            "appointment_rescheduled",
            view.schedule_known_at,
            deadline=starts_at,
            expires_at=starts_at,
            invite=p.invite(),
            facts=MessageFacts(previous_starts_at=view.previous_starts_at),
        )
    p.reminders(
        "visit_reminder",
        "patient",
        p.patient,
        starts_at=starts_at,
        known_at=max(view.schedule_known_at, view.confirmed_at),
        version=version,
        cancel_reason="the patient said they cannot come" if view.attendance == "declined" else None,
    )
    if view.attendance == "declined" and view.attendance_at is not None:
        p.to_staff(
            "attendance_declined", "staff_attendance_declined", view.attendance_at, expires_at=starts_at
        )


def _plan_feedback(p: _Planner) -> None:
    view, settings = p.view, p.settings
    assert view.status_at is not None
    completed_at = view.status_at
    window_end = completed_at + settings.feedback_window
    if view.rating is not None:
        return
    p.to_patient(
        "feedback_request",
        "feedback_request",
        completed_at + settings.feedback_delay,
        deadline=window_end,
        expires_at=window_end,
    )
    asked = p.done.get("feedback_request")
    if asked is not None and p.sent("feedback_request"):
        p.to_patient(
            "feedback_followup",
            "feedback_followup",
            asked.at + settings.feedback_followup_delay,
            deadline=window_end,
            expires_at=window_end,
        )


def _close_at(view: AppointmentView, settings: TenantSettings) -> datetime:
    assert view.details is not None and view.status_at is not None
    if view.status in CLOSED:
        return view.status_at
    if view.status is AppointmentStatus.COMPLETED:
        return view.status_at + settings.feedback_window
    return view.details.starts_at + settings.feedback_window
