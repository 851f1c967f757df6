"""Planning shared by every lifecycle: planned messages, reminder offsets, stale-skip, quiet hours."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from domain.contacts import Contact
from domain.quiet_hours import before_by, fit_quiet_hours
from domain.settings import DailyWindow

Audience = Literal["patient", "staff", "student", "guardian", "payer", "contact"]


class CalendarInvite(BaseModel):
    uid: str
    starts_at: datetime
    ends_at: datetime
    summary: str
    location: str = ""
    description: str = ""
    timezone: str = "UTC"
    sequence: int = 0
    cancelled: bool = False


class MessageFacts(BaseModel):
    """What a template may say beyond the lifecycle's own data; typed so nothing is lost in JSON."""

    offset: timedelta | None = None
    previous_starts_at: datetime | None = None
    waiting: timedelta | None = None
    urgent: bool = False
    reason: str = ""
    cancelled_by: str | None = None
    rating: int | None = None
    comment: str = ""


class PlannedMessage(BaseModel):
    """One message a lifecycle intends to send: when, to whom, and why it may not go."""

    step: str
    template: str
    audience: Audience
    recipient: Contact
    send_at: datetime
    # Past this moment the message is pointless and is recorded as skipped instead of sent.
    expires_at: datetime | None = None
    skip_reason: str | None = None
    facts: MessageFacts = Field(default_factory=MessageFacts)
    invite: CalendarInvite | None = None


def offset_label(offset: timedelta) -> str:
    """A stable, readable name for an offset, used in step keys: `24h`, `2h`, `90m`, `30s`."""
    seconds = int(offset.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


class ReminderTime(BaseModel):
    offset: timedelta
    send_at: datetime | None
    skip_reason: str | None = None


def plan_reminders(
    starts_at: datetime,
    offsets: list[timedelta],
    *,
    tz: str,
    quiet: DailyWindow | None,
    known_at: datetime,
) -> list[ReminderTime]:
    """When each reminder goes out, or why it does not.

    `known_at` is when the current start time became known: a reminder due before it (a booking
    made 1 h ahead has no 24 h reminder) is skipped, never sent late. Two reminders squeezed onto
    the same moment by quiet hours go out once, as the one closest to the start.
    """
    planned: list[ReminderTime] = []
    taken: set[datetime] = set()
    for offset in sorted(offsets):
        due = before_by(starts_at, offset, tz)
        if due < known_at:
            planned.append(
                ReminderTime(
                    offset=offset, send_at=None, skip_reason="too late: booked or moved after its moment"
                )
            )
            continue
        moved = fit_quiet_hours(due, quiet, tz, deadline=starts_at, not_before=known_at)
        if moved is None:
            planned.append(
                ReminderTime(
                    offset=offset, send_at=None, skip_reason="quiet hours left no moment before the start"
                )
            )
        elif moved in taken:
            planned.append(
                ReminderTime(
                    offset=offset, send_at=None, skip_reason="merged with a later reminder by quiet hours"
                )
            )
        else:
            taken.add(moved)
            planned.append(ReminderTime(offset=offset, send_at=moved))
    return sorted(planned, key=lambda r: r.offset, reverse=True)


def place(
    due: datetime,
    recipient: Contact,
    quiet: DailyWindow | None,
    *,
    deadline: datetime | None,
    not_before: datetime,
) -> tuple[datetime, str | None]:
    """A message's moment in the recipient's quiet hours; the reason if quiet hours drop it."""
    moved = fit_quiet_hours(due, quiet, recipient.timezone, deadline=deadline, not_before=not_before)
    if moved is None:
        return due, "quiet hours left no moment before it would be pointless"
    return moved, None


def first_pending(steps: list[PlannedMessage], done: set[str]) -> datetime | None:
    pending = [step.send_at for step in steps if step.step not in done]
    return min(pending) if pending else None
