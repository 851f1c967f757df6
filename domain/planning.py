"""Planning shared by every lifecycle: planned messages, reminder offsets, stale-skip, quiet hours."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from domain.contacts import Channel, Contact
from domain.quiet_hours import before_by, fit_quiet_hours, next_open
from domain.settings import DailyWindow, TenantSettings

Audience = Literal["patient", "staff", "student", "guardian", "payer", "contact"]


class StepRecord(BaseModel):
    """A step a lifecycle has done: when, and whether it was sent, skipped or failed."""

    at: datetime
    status: str


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
    unread: int | None = None
    # What a staff alert is about: the failed message's template and its recipient's name.
    about: str = ""
    about_name: str = ""
    # A bundle of two or more messages (domain/bundles.py): each one's short text, in order.
    items: list[str] = Field(default_factory=list)
    nudge: int | None = None
    nudges: int | None = None


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
    # Only these channels may carry it (a chat escalation's push step); None means any.
    channels: list[Channel] | None = None


def offset_label(offset: timedelta) -> str:
    """A stable, readable name for an offset, used in step keys: `24h`, `2h`, `90m`, `30s`."""
    seconds = int(offset.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


class LifecyclePlan(BaseModel):
    """What a planner returns: the messages still called for, and when the lifecycle may end."""

    messages: list[PlannedMessage] = Field(default_factory=list)
    # With nothing pending, the lifecycle ends at this moment unless another event arrives.
    close_at: datetime
    # The done steps the planner looked at (DoneReads): a send of any other step cannot change the
    # plan, so the lifecycle need not plan again after it. None: unknown (plans recorded before it).
    reads_done: list[str] | None = None
    # The tenant's settings when the planning activity loaded them itself (a run's first plan).
    settings: TenantSettings | None = None
    # The planning code and zone rules it was made with (activities/release.py); None before it was noted.
    release: str | None = None


class DoneReads(Mapping[str, StepRecord]):
    """A lifecycle's done steps as a planner sees them, noting which ones it looked at.

    A plan is a function of the events, the settings and the done steps; it can depend on a step
    only through a lookup here. Any walk over all of them (iteration, len) counts as reading all.
    """

    def __init__(self, done: Mapping[str, StepRecord]) -> None:
        self._done = done
        self._read: set[str] = set()
        self._read_all = False

    def __getitem__(self, step: str) -> StepRecord:
        self._read.add(step)
        return self._done[step]

    def __iter__(self) -> Iterator[str]:
        self._read_all = True
        return iter(self._done)

    def __len__(self) -> int:
        self._read_all = True
        return len(self._done)

    def read(self) -> list[str] | None:
        """The steps looked up, sorted; None when the planner walked over all of them."""
        return None if self._read_all else sorted(self._read)


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


class Planner:
    """Collects a lifecycle's planned messages, each placed in its recipient's allowed hours."""

    def __init__(
        self, settings: TenantSettings, done: Mapping[str, StepRecord], *, staff_timezone: str
    ) -> None:
        self.settings, self.done, self.staff_timezone = settings, done, staff_timezone
        self.messages: list[PlannedMessage] = []

    def sent(self, step: str) -> bool:
        record = self.done.get(step)
        return record is not None and record.status not in ("skipped", "failed")

    def to_contact(
        self,
        step: str,
        template: str,
        audience: Audience,
        recipient: Contact,
        due: datetime,
        *,
        deadline: datetime | None,
        expires_at: datetime | None,
        quiet: bool = True,
        facts: MessageFacts | None = None,
        invite: CalendarInvite | None = None,
        channels: list[Channel] | None = None,
        skip_reason: str | None = None,
        lateness: timedelta | None = None,
    ) -> PlannedMessage:
        """Plan one message; `skip_reason` records it as skipped at `due`, `lateness` sets its expiry
        that long after the moment quiet hours chose."""
        send_at, reason = (due, skip_reason)
        if quiet and skip_reason is None:
            send_at, reason = place(
                due, recipient, self.settings.quiet_hours, deadline=deadline, not_before=due
            )
        if expires_at is None and lateness is not None:
            expires_at = send_at + lateness
        message = PlannedMessage(
            step=step,
            template=template,
            audience=audience,
            recipient=recipient,
            send_at=send_at,
            expires_at=expires_at,
            skip_reason=reason,
            facts=facts or MessageFacts(),
            invite=invite,
            channels=channels,
        )
        self.messages.append(message)
        return message

    def to_staff(
        self,
        step: str,
        template: str,
        due: datetime,
        *,
        urgent: bool = False,
        expires_at: datetime | None = None,
        facts: MessageFacts | None = None,
    ) -> None:
        # Staff read alerts in business hours; an urgent one goes at once.
        send_at = due if urgent else next_open(due, self.settings.business_hours, self.staff_timezone)
        for staff in self.settings.staff_recipients:
            self.messages.append(
                PlannedMessage(
                    step=f"{step}/{staff.id}",
                    template=template,
                    audience="staff",
                    recipient=staff,
                    send_at=send_at,
                    expires_at=expires_at,
                    facts=facts or MessageFacts(urgent=urgent),
                )
            )

    def reminders(
        self,
        template: str,
        audience: Audience,
        recipient: Contact,
        *,
        starts_at: datetime,
        known_at: datetime,
        version: int,
        suffix: str = "",
        cancel_reason: str | None = None,
    ) -> None:
        """The tenant's reminders before `starts_at`, stale ones skipped with their reason."""
        for reminder in plan_reminders(
            starts_at,
            self.settings.reminder_offsets,
            tz=recipient.timezone,
            quiet=self.settings.quiet_hours,
            known_at=known_at,
        ):
            reason = reminder.skip_reason or cancel_reason
            send_at = reminder.send_at if reason is None and reminder.send_at is not None else known_at
            self.messages.append(
                PlannedMessage(
                    step=f"reminder-{offset_label(reminder.offset)}-v{version}{suffix}",
                    template=template,
                    audience=audience,
                    recipient=recipient,
                    send_at=send_at,
                    expires_at=min(send_at + self.settings.max_lateness, starts_at),
                    skip_reason=reason,
                    facts=MessageFacts(offset=reminder.offset),
                )
            )
