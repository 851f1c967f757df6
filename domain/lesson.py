"""The lesson lifecycle as pure functions: reminders to student and guardian, trial feedback."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from domain.contacts import Contact
from domain.events import DomainEvent, FeedbackSubmitted, Lesson, LessonChange, fold_into
from domain.planning import Audience, LifecyclePlan, MessageFacts, Planner, StepRecord
from domain.settings import TenantSettings

ORPHAN_TTL = timedelta(days=7)


class LessonStatus(StrEnum):
    AWAITING_DETAILS = "awaiting_details"
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class LessonView(BaseModel):
    status: LessonStatus = LessonStatus.AWAITING_DETAILS
    details: Lesson | None = None
    schedule_version: int = 0
    schedule_known_at: datetime | None = None
    previous_starts_at: datetime | None = None
    first_event_at: datetime | None = None
    status_at: datetime | None = None
    reason: str = ""
    rating: int | None = None

    def recipients(self) -> list[tuple[Audience, Contact]]:
        """The student, and the guardian when there is one: each in their own locale and timezone."""
        if self.details is None:
            return []
        found: list[tuple[Audience, Contact]] = [("student", self.details.student)]
        if self.details.guardian is not None:
            found.append(("guardian", self.details.guardian))
        return found


def _reschedule(view: LessonView, starts_at: datetime, duration: int, at: datetime) -> None:
    details = view.details
    assert details is not None
    if (starts_at, duration) != (details.starts_at, details.duration_minutes):
        view.previous_starts_at = details.starts_at
        view.schedule_version += 1
        view.schedule_known_at = at
    view.details = details.model_copy(update={"starts_at": starts_at, "duration_minutes": duration})


def apply(view: LessonView, event: DomainEvent) -> None:
    at = event.received_at
    view.first_event_at = view.first_event_at or at
    data = event.parsed()
    ended = view.status in (LessonStatus.CANCELLED, LessonStatus.COMPLETED)
    if isinstance(data, Lesson):
        if view.details is None:
            view.details, view.schedule_known_at = data, at
        else:
            keep = {"starts_at": view.details.starts_at, "duration_minutes": view.details.duration_minutes}
            view.details = data.model_copy(update=keep)
            _reschedule(view, data.starts_at, data.duration_minutes, at)
        if view.status is LessonStatus.AWAITING_DETAILS:
            view.status, view.status_at = LessonStatus.SCHEDULED, at
    elif isinstance(data, LessonChange) and view.details is not None and not ended:
        if event.type == "lesson.rescheduled" and data.starts_at is not None:
            _reschedule(view, data.starts_at, data.duration_minutes or view.details.duration_minutes, at)
        elif event.type == "lesson.cancelled":
            view.status, view.status_at, view.reason = LessonStatus.CANCELLED, at, data.reason
        elif event.type == "lesson.completed":
            if data.trial is not None:
                view.details = view.details.model_copy(update={"trial": data.trial})
            view.status, view.status_at = LessonStatus.COMPLETED, at
    elif isinstance(data, FeedbackSubmitted):
        view.rating = data.rating


def fold(events: list[DomainEvent]) -> LessonView:
    return fold_into(LessonView(), events, apply)


class LessonPlan(LifecyclePlan):
    view: LessonView

    @property
    def status(self) -> str:
        return self.view.status.value

    def send_fields(self) -> dict[str, Any]:
        return {"lesson": self.view.details}


def plan_lesson(view: LessonView, settings: TenantSettings, done: Mapping[str, StepRecord]) -> LessonPlan:
    """Reminders to each recipient, notices of moves and cancellations, feedback after a trial."""
    details = view.details
    if details is None or view.status_at is None or view.schedule_known_at is None:
        assert view.first_event_at is not None
        return LessonPlan(view=view, close_at=view.first_event_at + ORPHAN_TTL)
    p = Planner(settings, done, staff_timezone=settings.timezone)
    starts_at, version = details.starts_at, view.schedule_version
    close_at = starts_at + settings.feedback_window
    for role, contact in view.recipients():
        if view.status is LessonStatus.SCHEDULED:
            if version:
                p.to_contact(
                    f"rescheduled-v{version}/{role}",
                    "lesson_rescheduled",
                    role,
                    contact,
                    view.schedule_known_at,
                    deadline=starts_at,
                    expires_at=starts_at,
                    facts=MessageFacts(previous_starts_at=view.previous_starts_at),
                )
            p.reminders(
                "lesson_reminder",
                role,
                contact,
                starts_at=starts_at,
                known_at=view.schedule_known_at,
                version=version,
                suffix=f"/{role}",
            )
        elif view.status is LessonStatus.CANCELLED:
            p.to_contact(
                f"cancelled/{role}",
                "lesson_cancelled",
                role,
                contact,
                view.status_at,
                deadline=starts_at,
                expires_at=starts_at,
                facts=MessageFacts(reason=view.reason),
            )
            close_at = view.status_at
    if view.status is LessonStatus.COMPLETED:
        close_at = _plan_trial_feedback(p, view) if details.trial else view.status_at
    return LessonPlan(view=view, messages=p.messages, close_at=close_at)


def _plan_trial_feedback(p: Planner, view: LessonView) -> datetime:
    assert view.details is not None and view.status_at is not None
    role, contact = view.recipients()[-1]  # the guardian decides; an adult student answers alone
    window_end = view.status_at + p.settings.feedback_window
    if view.rating is None:
        p.to_contact(
            "feedback_request",
            "lesson_feedback_request",
            role,
            contact,
            view.status_at + p.settings.feedback_delay,
            deadline=window_end,
            expires_at=window_end,
        )
        asked = p.done.get("feedback_request")
        if asked is not None and p.sent("feedback_request"):
            p.to_contact(
                "feedback_followup",
                "lesson_feedback_followup",
                role,
                contact,
                asked.at + p.settings.feedback_followup_delay,
                deadline=window_end,
                expires_at=window_end,
            )
    return window_end
