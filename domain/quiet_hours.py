"""Local wall-clock math: quiet hours, business hours and calendar-day offsets, DST included."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.settings import DailyWindow


def localize(day: date, at: time, tz: str) -> datetime:
    """The UTC instant of a wall-clock time; a time skipped by DST lands after the jump."""
    naive = datetime.combine(day, at)
    # Round-trip through UTC so a nonexistent local time (spring forward) becomes a real instant.
    return naive.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


def _spans(window: DailyWindow, moment: datetime, tz: str) -> list[tuple[datetime, datetime]]:
    """The window's occurrences around `moment`, as UTC instants, oldest first."""
    today = moment.astimezone(ZoneInfo(tz)).date()
    spans = []
    for shift in (-1, 0, 1):
        day = today + timedelta(days=shift)
        end_day = day if window.end > window.start else day + timedelta(days=1)
        spans.append((localize(day, window.start, tz), localize(end_day, window.end, tz)))
    return spans


def quiet_span(quiet: DailyWindow, moment: datetime, tz: str) -> tuple[datetime, datetime] | None:
    """The quiet period strictly containing `moment`; its edges themselves are allowed."""
    for start, end in _spans(quiet, moment, tz):
        if start < moment < end:
            return start, end
    return None


def fit_quiet_hours(
    due: datetime,
    quiet: DailyWindow | None,
    tz: str,
    *,
    deadline: datetime | None,
    not_before: datetime,
) -> datetime | None:
    """Move a message out of the recipient's quiet hours, or drop it (None).

    Later to the end of the quiet period if that still comes before `deadline` (the thing the
    message is about); otherwise earlier to its start if that is not before `not_before`.
    """
    if quiet is None:
        return due
    span = quiet_span(quiet, due, tz)
    if span is None:
        return due
    start, end = span
    if deadline is None or end < deadline:
        return end
    if start >= not_before:
        return start
    return None


def next_open(due: datetime, hours: DailyWindow, tz: str) -> datetime:
    """`due` if it falls within business hours, else the next opening."""
    for start, end in _spans(hours, due, tz):
        if start <= due <= end:
            return due
        if due < start:
            return start
    # Unreachable for a valid window: three consecutive days always hold a later opening.
    raise AssertionError("no opening found")


def is_open(moment: datetime, hours: DailyWindow, tz: str) -> bool:
    return next_open(moment, hours, tz) == moment


def before_by(moment: datetime, offset: timedelta, tz: str) -> datetime:
    """`offset` before `moment`, whole days counted on the local calendar.

    "24 h before a 10:00 visit" is 10:00 the day before even across a DST change: people
    think of a day before, not of 86,400 seconds.
    """
    days = timedelta(days=offset.days)
    rest = offset - days
    local = moment.astimezone(ZoneInfo(tz))
    shifted = localize(local.date() - days, local.time().replace(tzinfo=None), tz)
    return shifted - rest
