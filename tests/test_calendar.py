"""The .ics invitation: parsed back with icalendar, it says the same instant, zone, uid and method."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar, Event

from domain.calendar import build_ics

BERLIN = ZoneInfo("Europe/Berlin")
STAMP = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def invitation(**changes: object) -> str:
    arguments: dict[str, object] = {
        "uid": "appointment-demo-a17@nudgeflow",
        "starts_at": datetime(2026, 3, 29, 8, 0, tzinfo=UTC),  # 10:00 CEST, the day summer time starts
        "ends_at": datetime(2026, 3, 29, 8, 30, tzinfo=UTC),
        "summary": "Приём: консультация стоматолога",
        "description": "Врач: Елена Петровна Иванова",
        "location": "Москва, ул. Тверская, 12",
        "timezone": "Europe/Berlin",
        "stamped_at": STAMP,
    }
    arguments.update(changes)
    return build_ics(**arguments)  # type: ignore[arg-type]


def the_event(text: str) -> tuple[Calendar, Event]:
    calendar = Calendar.from_ical(text)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, Event)
    return calendar, event


def test_the_invitation_parses_back_to_the_same_instant_in_the_given_zone() -> None:
    calendar, event = the_event(invitation())
    start = event.decoded("DTSTART")
    assert start == datetime(2026, 3, 29, 10, 0, tzinfo=BERLIN)
    assert start.utcoffset() == timedelta(hours=2)
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert event.decoded("DTEND") - start == timedelta(minutes=30)
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]


def test_the_invitation_is_a_request_with_uid_sequence_status_and_a_two_hour_alarm() -> None:
    calendar, event = the_event(invitation(sequence=2))
    assert calendar["PRODID"] == "-//nudgeflow//EN"
    assert calendar["VERSION"] == "2.0"
    assert calendar["METHOD"] == "REQUEST"
    assert event["UID"] == "appointment-demo-a17@nudgeflow"
    assert event["SEQUENCE"] == 2
    assert event["STATUS"] == "CONFIRMED"
    assert event["SUMMARY"] == "Приём: консультация стоматолога"
    assert event["LOCATION"] == "Москва, ул. Тверская, 12"
    assert event.decoded("DTSTAMP") == STAMP
    alarms = event.walk("VALARM")
    assert len(alarms) == 1 and alarms[0].decoded("TRIGGER") == timedelta(hours=-2)


def test_a_cancellation_keeps_the_uid_and_says_cancel() -> None:
    calendar, event = the_event(invitation(cancelled=True, sequence=3))
    assert calendar["METHOD"] == "CANCEL"
    assert event["STATUS"] == "CANCELLED"
    assert event["UID"] == "appointment-demo-a17@nudgeflow"
    assert event.walk("VALARM") == []


def test_organizer_and_attendee_are_added_for_strict_clients() -> None:
    _, event = the_event(invitation(organizer_email="clinic@example.com", attendee_email="anna@example.com"))
    assert str(event["ORGANIZER"]) == "mailto:clinic@example.com"
    assert str(event["ATTENDEE"]) == "mailto:anna@example.com"


def test_the_same_input_gives_the_same_bytes() -> None:
    assert invitation() == invitation()


def test_naive_or_inverted_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        invitation(starts_at=datetime(2026, 3, 29, 10, 0))
    with pytest.raises(ValueError, match="after"):
        invitation(ends_at=datetime(2026, 3, 29, 7, 0, tzinfo=UTC))
