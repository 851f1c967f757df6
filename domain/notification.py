"""The one-off notification as pure functions: one message, now or at `send_at`, unless it expired.

`notification:{tenant}:{notification_id}` holds one message. The first `notification.requested`
for an id decides it; a second one with the same id (a backend that posted twice under new event
ids) changes nothing, so the contact gets one message. A `send_at` without an offset is the
contact's wall-clock time. Quiet hours hold every category but `transactional` (an order status
or a manager's note the contact is waiting for goes at night too); a message that quiet hours or
a late `send_at` would push past `expires_at` is recorded skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from domain.consent import ConsentCategory
from domain.events import DomainEvent, Notification, fold_into
from domain.planning import LifecyclePlan, Planner, StepRecord
from domain.settings import TenantSettings

STEP = "send"


class NotificationView(BaseModel):
    notification: Notification | None = None
    requested_at: datetime | None = None
    # Requests for the same id after the first: acknowledged, never sent again.
    duplicates: int = 0


def apply(view: NotificationView, event: DomainEvent) -> None:
    data = event.parsed()
    if not isinstance(data, Notification):
        return
    if view.notification is None:
        view.notification, view.requested_at = data, event.received_at
    else:
        view.duplicates += 1


def fold(events: list[DomainEvent]) -> NotificationView:
    return fold_into(NotificationView(), events, apply)


def send_moment(notification: Notification) -> datetime | None:
    """`send_at` as an instant: with an offset as given, without one in the contact's time zone.

    A wall-clock time that a DST change skips (02:30 on a spring-forward night) is read with the
    offset before the change, so it lands an hour later in local time (03:30), never earlier.
    """
    at = notification.send_at
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(notification.contact.timezone))
    return at.astimezone(UTC)


class NotificationPlan(LifecyclePlan):
    view: NotificationView
    outcome: str = "scheduled"

    @property
    def status(self) -> str:
        return self.outcome

    def send_fields(self) -> dict[str, Any]:
        return {"notification": self.view.notification}


def plan_notification(
    view: NotificationView, settings: TenantSettings, done: Mapping[str, StepRecord]
) -> NotificationPlan:
    """The one message, placed in the contact's allowed hours; the lifecycle ends once it is done."""
    notification, requested_at = view.notification, view.requested_at
    if notification is None or requested_at is None:
        # Only `notification.requested` routes here; nothing to send without it.
        return NotificationPlan(view=view, close_at=datetime.min.replace(tzinfo=UTC))
    due = max(send_moment(notification) or requested_at, requested_at)
    expires = notification.expires_at
    skip = None
    if expires is not None and due > expires:
        skip = f"expired: due at {due.isoformat()}, after it expired at {expires.isoformat()}"
    p = Planner(settings, done, staff_timezone=settings.timezone)
    message = p.to_contact(
        STEP,
        notification.template,
        "contact",
        notification.contact,
        due,
        deadline=expires,
        expires_at=expires,
        quiet=notification.category is not ConsentCategory.TRANSACTIONAL,
        skip_reason=skip,
    )
    record = done.get(STEP)
    outcome = record.status if record is not None else "scheduled"
    return NotificationPlan(view=view, messages=p.messages, close_at=message.send_at, outcome=outcome)
