"""Realistic render contexts for every template key, for the tests and the staff UI preview."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from i18n.locales import language_of

TEMPLATE_KEYS = (
    "booking_received",
    "staff_booking_to_confirm",
    "staff_confirmation_overdue",
    "appointment_confirmed",
    "visit_reminder",
    "appointment_rescheduled",
    "appointment_cancelled",
    "appointment_rejected",
    "staff_attendance_declined",
    "appointment_missed",
    "feedback_request",
    "feedback_followup",
    "staff_low_rating",
)
STAFF_KEYS = frozenset(key for key in TEMPLATE_KEYS if key.startswith("staff_"))

_PEOPLE = {
    "ru": {
        "patient": "Анна Смирнова",
        "staff": "Мария",
        "doctor": "Елена Петровна Иванова",
        "service": "Консультация стоматолога",
        "clinic": "Клиника «Улыбка»",
        "address": "Москва, ул. Тверская, 12",
        "cancel_reason": "врач заболел",
        "reject_reason": "это время уже занято",
        "comment": "Долго ждала в коридоре, врач торопился.",
    },
    "en": {
        "patient": "Anna Smith",
        "staff": "Mary",
        "doctor": "Dr Emily Clarke",
        "service": "Dental check-up",
        "clinic": "Smile Dental Clinic",
        "address": "12 Baker Street, London NW1 6XE",
        "cancel_reason": "the doctor is unwell",
        "reject_reason": "this time has just been taken",
        "comment": "Waited 40 minutes past my time.",
    },
}

# When each message is typically sent, counted from 10:00 on the visit day (local time).
_SEND_MOMENT = {
    "booking_received": timedelta(hours=-10, minutes=-20),
    "staff_booking_to_confirm": timedelta(hours=-10, minutes=-20),
    "staff_confirmation_overdue": timedelta(hours=-9, minutes=-35),
    "appointment_confirmed": timedelta(hours=-21, minutes=-30),
    "visit_reminder": timedelta(hours=-24),
    "appointment_rescheduled": timedelta(hours=-22),
    "appointment_cancelled": timedelta(hours=-22),
    "appointment_rejected": timedelta(hours=-10, minutes=-5),
    "staff_attendance_declined": timedelta(hours=-23, minutes=-55),
    "appointment_missed": timedelta(hours=1),
    "feedback_request": timedelta(hours=2, minutes=30),
    "feedback_followup": timedelta(hours=26, minutes=30),
    "staff_low_rating": timedelta(hours=3),
}


def sample_context(
    key: str,
    *,
    locale: str = "ru",
    timezone: str = "Europe/Moscow",
    now: datetime | None = None,
    starts_at: datetime | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """The context `key` is rendered with, filled with believable data in `locale`'s language.

    By default the visit is on 24 November 2025 at 10:00 in `timezone` and `now` is the moment
    such a message is usually sent; `overrides` replace top-level entries (`offset`, `reason`...).
    """
    if key not in _SEND_MOMENT:
        raise KeyError(f"no sample context for template {key!r}")
    words = _PEOPLE["ru" if language_of(locale) == "ru" else "en"]
    zone = ZoneInfo(timezone)
    visit_day = datetime(2025, 11, 24, 10, 0, tzinfo=zone)
    if starts_at is not None:
        start = starts_at
    elif key == "appointment_rescheduled":
        start = visit_day + timedelta(days=2, hours=5, minutes=30)  # moved from the 24th to the 26th
    else:
        start = visit_day
    duration = 30
    recipient_name = words["staff"] if key in STAFF_KEYS else words["patient"]
    context: dict[str, Any] = {
        "now": now if now is not None else visit_day + _SEND_MOMENT[key],
        "recipient": {"name": recipient_name, "locale": locale, "timezone": timezone},
        "patient": {"name": words["patient"]},
        "appointment": {
            "id": "apt-20251124-0017",
            "starts_at": start,
            "ends_at": start + timedelta(minutes=duration),
            "duration_minutes": duration,
            "service": {"code": "dental-consultation", "name": words["service"]},
            "doctor": {"id": "doc-14", "name": words["doctor"]},
            "location": {
                "id": "tverskaya",
                "name": words["clinic"],
                "address": words["address"],
                "timezone": timezone,
            },
        },
    }
    extras: dict[str, dict[str, Any]] = {
        "staff_booking_to_confirm": {"urgent": True},
        "staff_confirmation_overdue": {"waiting": timedelta(minutes=45)},
        "visit_reminder": {"offset": timedelta(hours=24)},
        "appointment_rescheduled": {"previous_starts_at": visit_day},
        "appointment_cancelled": {"cancelled_by": "clinic", "reason": words["cancel_reason"]},
        "appointment_rejected": {"reason": words["reject_reason"]},
        "staff_low_rating": {"rating": 2, "comment": words["comment"]},
    }
    context.update(extras.get(key, {}))
    context.update(overrides)
    return context
