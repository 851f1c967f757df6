"""The add-to-calendar invitation (.ics, RFC 5545 with an iTIP method) sent with a confirmed appointment."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, Timezone, vCalAddress

from domain.contacts import check_timezone

PRODID = "-//nudgeflow//EN"
ALARM_BEFORE = timedelta(hours=2)


@lru_cache(maxsize=256)
def _vtimezone(tz: str, year: int) -> Timezone:
    """The zone's VTIMEZONE for the years around a visit, built once: it was a quarter of a send's CPU.

    Only the years around the visit: a full zone history would bloat every attachment.
    """
    return Timezone.from_tzinfo(
        ZoneInfo(tz), tzid=tz, first_date=date(year - 1, 1, 1), last_date=date(year + 2, 1, 1)
    )


def build_ics(
    *,
    uid: str,
    starts_at: datetime,
    ends_at: datetime,
    summary: str,
    description: str,
    location: str,
    timezone: str,
    sequence: int = 0,
    cancelled: bool = False,
    stamped_at: datetime | None = None,
    organizer_email: str | None = None,
    attendee_email: str | None = None,
) -> str:
    """One VEVENT in `timezone` (with its VTIMEZONE), METHOD REQUEST, or CANCEL when `cancelled`.

    Calendars match updates by `uid` and keep the highest `sequence`: a reschedule sends the same
    uid with a higher sequence. `stamped_at` (DTSTAMP) defaults to now; pass it for identical bytes
    on a retried activity. Strict iTIP clients (Outlook) want an organizer and an attendee.
    """
    for name, moment in (("starts_at", starts_at), ("ends_at", ends_at)):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{name} must be an aware datetime")
    if ends_at <= starts_at:
        raise ValueError("ends_at must be after starts_at")
    zone = ZoneInfo(check_timezone(timezone))

    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", (stamped_at or datetime.now(UTC)).astimezone(UTC))
    event.add("dtstart", starts_at.astimezone(zone))
    event.add("dtend", ends_at.astimezone(zone))
    event.add("summary", summary)
    event.add("description", description)
    event.add("location", location)
    event.add("sequence", sequence)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if organizer_email:
        event.add("organizer", vCalAddress(f"mailto:{organizer_email}"))
    if attendee_email:
        attendee = vCalAddress(f"mailto:{attendee_email}")
        attendee.params["ROLE"] = "REQ-PARTICIPANT"
        attendee.params["RSVP"] = "FALSE"
        event.add("attendee", attendee)
    if not cancelled:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", summary)
        alarm.add("trigger", -ALARM_BEFORE)
        event.add_component(alarm)

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "CANCEL" if cancelled else "REQUEST")
    calendar.add_component(_vtimezone(zone.key, starts_at.year))
    calendar.add_component(event)
    ical: bytes = calendar.to_ical()
    return ical.decode("utf-8")
