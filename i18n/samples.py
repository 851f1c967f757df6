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
    "lesson_reminder",
    "lesson_rescheduled",
    "lesson_cancelled",
    "lesson_feedback_request",
    "lesson_feedback_followup",
    "payment_nudge",
    "balance_nudge",
    "staff_payment_overdue",
    "staff_payment_reported",
    "chat_unread_push",
    "chat_unread_sms",
    "staff_delivery_failed",
    "recall_invitation",
    "staff_digest",
    "lesson_reminder_family",
    "order_status",
    "manager_note",
    "telegram_offer",
    "telegram_welcome",
    "slot_offer",
    "slot_claimed",
    "slot_already_taken",
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
    # Lessons are at 17:00 on the same day and last 45 minutes; invoices fell due 3 days before.
    "lesson_reminder": timedelta(hours=-17),
    "lesson_rescheduled": timedelta(hours=-22),
    "lesson_cancelled": timedelta(hours=-20),
    "lesson_feedback_request": timedelta(hours=9, minutes=45),
    "lesson_feedback_followup": timedelta(hours=33, minutes=45),
    "payment_nudge": timedelta(0),
    "balance_nudge": timedelta(0),
    "staff_payment_overdue": timedelta(days=5),
    "staff_payment_reported": timedelta(days=1, hours=2),
    "chat_unread_push": timedelta(hours=2, seconds=5),
    "chat_unread_sms": timedelta(hours=2, minutes=10),
    "staff_delivery_failed": timedelta(hours=-24, minutes=1),
    # A recall invitation: the due date (six months and a day after the visit) at 10:00.
    "recall_invitation": timedelta(0),
    # A staff digest ten minutes after a morning's bookings; a guardian's reminder of two lessons.
    "staff_digest": timedelta(hours=-10, minutes=-10),
    "lesson_reminder_family": timedelta(hours=-17),
    "order_status": timedelta(hours=2),
    "manager_note": timedelta(hours=3),
    # The Telegram line under the first confirmation; the welcome when the patient presses Start.
    "telegram_offer": timedelta(hours=-21, minutes=-30),
    "telegram_welcome": timedelta(hours=-21, minutes=-20),
    # A waitlist offer of a slot freed the day before; the claim and a late "yes" minutes later.
    "slot_offer": timedelta(days=-1),
    "slot_claimed": timedelta(days=-1, minutes=3),
    "slot_already_taken": timedelta(days=-1, minutes=4),
}

# The lessons, payments and chat messages of an online school (and a clinic's chat).
_SCHOOL = {
    "ru": {
        "student": "Маша Смирнова",
        "teacher": "Ольга Викторовна Кузнецова",
        "lesson_cancel_reason": "преподаватель заболел",
        "amount": 4500.0,
        "currency": "RUB",
        "preview": "Добрый день! Результаты анализов готовы, всё в норме. "
        "Если появятся вопросы, напишите мне здесь — отвечу до конца дня.",
    },
    "en": {
        "student": "Sophie Smith",
        "teacher": "Ms Laura Bennett",
        "lesson_cancel_reason": "the teacher is unwell",
        "amount": 180.0,
        "currency": "GBP",
        "preview": "Good afternoon! Your test results are ready and everything looks normal. "
        "If you have any questions, write to me here and I will reply today.",
    },
}
LESSON_KEYS = frozenset(key for key in TEMPLATE_KEYS if key.startswith("lesson_"))
_PAYMENT_KEYS = frozenset(
    {"payment_nudge", "balance_nudge", "staff_payment_overdue", "staff_payment_reported"}
)
_CHAT_KEYS = frozenset({"chat_unread_push", "chat_unread_sms"})


def _school_sample(
    key: str, locale: str, visit_day: datetime, starts_at: datetime | None, adult: str, sender: str
) -> dict[str, Any]:
    """The lesson, invoice, balance or chat of a non-appointment key; `adult` is the guardian / payer."""
    words = _SCHOOL["ru" if language_of(locale) == "ru" else "en"]
    lesson_day = visit_day.replace(hour=17)
    if key in LESSON_KEYS:
        moved = lesson_day + timedelta(days=1, hours=1)  # from the 24th, 17:00 to the 25th, 18:00
        start = starts_at or (moved if key == "lesson_rescheduled" else lesson_day)
        lesson = {
            "id": "les-20251124-0042",
            "starts_at": start,
            "ends_at": start + timedelta(minutes=45),
            "duration_minutes": 45,
            "teacher": {"id": "t-7", "name": words["teacher"]},
            "join_url": "https://meet.example.com/j/4F7KQ",
            "trial": key.startswith("lesson_feedback_"),
            "student": {"name": words["student"]},
        }
        facts: dict[str, dict[str, Any]] = {
            "lesson_rescheduled": {"previous_starts_at": lesson_day},
            "lesson_cancelled": {"reason": words["lesson_cancel_reason"]},
        }
        return {"lesson": lesson, **facts.get(key, {})}
    if key in _CHAT_KEYS:
        chat = {
            "conversation_id": "conv-8812",
            "sender_name": sender,
            "preview": words["preview"],
            "unread": 2,
        }
        return {"chat": chat, "unread": 2}
    if key == "balance_nudge":
        balance = {
            "account_id": "acc-5531",
            "lessons_left": 1,
            "pay_url": "https://pay.example.com/b/5531",
            "payer": {"name": adult},
        }
        return {"balance": balance, "nudge": 1, "nudges": 3}
    invoice = {
        "id": "inv-2025-1187",
        "amount": words["amount"],
        "currency": words["currency"],
        "due_at": visit_day - timedelta(days=3),
        "pay_url": "https://pay.example.com/i/8KX2M",
        "payer": {"name": adult},
    }
    # The manager's alert has `invoice` or `balance`, never both; the sample shows an invoice.
    nudges = {"nudges": 3} if key == "staff_payment_overdue" else {"nudge": 2, "nudges": 3}
    return {"invoice": invoice, **nudges}


# One-off notifications (`notification.requested`): the `data` a B2B backend sends with them.
NOTIFICATION_SAMPLES: dict[str, dict[str, dict[str, Any]]] = {
    "order_status": {
        "ru": {"order_id": "№ 10482", "status": "shipped", "tracking_url": "https://trk.example/10482"},
        "en": {"order_id": "#10482", "status": "shipped", "tracking_url": "https://trk.example/10482"},
    },
    "manager_note": {
        "ru": {"note": "Счёт на март готов, пришлю его вечером.", "manager_name": "Ирина"},
        "en": {"note": "The March invoice is ready; I will send it tonight.", "manager_name": "Irene"},
    },
}


# What a bundle lists (domain/bundles.py): each held message in its short wording.
_BUNDLE_ITEMS: dict[str, dict[str, list[str]]] = {
    "staff_digest": {
        "ru": [
            "Новая запись: Анна Смирнова, 24 ноября в 10:00, Консультация стоматолога. Подтвердите запись.",
            "Пациент не придёт: Иван Петров, 24 ноября в 12:30.",
            "Оценка 2/5: Ольга Кузнецова, визит 21 ноября. Свяжитесь с пациентом.",
        ],
        "en": [
            "New booking: Anna Smith, 24 November at 10:00, Dental check-up. Please confirm it.",
            "Patient cannot come: John Brown, 24 November at 12:30.",
            "Rating 2/5: Olivia Green, visit on 21 November. Please contact the patient.",
        ],
    },
    "lesson_reminder_family": {
        "ru": ["Маша: занятие сегодня в 17:00.", "Петя: занятие сегодня в 17:00."],
        "en": ["Masha: lesson today at 17:00.", "Peter: lesson today at 17:00."],
    },
}


# What `GET /c/{token}` links look like in a confirmation (channels/calendar_links.py).
CALENDAR_URL = "https://clinic.example/c/c2a_6f5e4d3c_1a2b3c4d_0123456789abcdef01234567"
# A deep link to the clinic's bot, as channels/telegram_links.py writes it.
TELEGRAM_LINK = "https://t.me/smile_clinic_bot?start=s2a_6f5e4d3c_1a2b3c4d_0123456789abcdef01234567"


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
        # Set by the send activity: False for an SMS through a gateway that hands no answer back.
        "can_reply": True,
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
        "appointment_confirmed": {"calendar_url": CALENDAR_URL},
        "telegram_offer": {"telegram_link": TELEGRAM_LINK},
        "appointment_rescheduled": {"previous_starts_at": visit_day, "calendar_url": CALENDAR_URL},
        "appointment_cancelled": {"cancelled_by": "clinic", "reason": words["cancel_reason"]},
        "appointment_rejected": {"reason": words["reject_reason"]},
        "staff_low_rating": {"rating": 2, "comment": words["comment"]},
        "staff_delivery_failed": {
            "about": "visit_reminder",
            "about_name": words["patient"],
            "reason": "sms: the number is unsubscribed",
        },
    }
    context.update(extras.get(key, {}))
    if key in _BUNDLE_ITEMS:
        context["items"] = _BUNDLE_ITEMS[key]["ru" if language_of(locale) == "ru" else "en"]
    if key in LESSON_KEYS | _PAYMENT_KEYS | _CHAT_KEYS:
        del context["appointment"], context["patient"]
        context.update(_school_sample(key, locale, visit_day, starts_at, words["patient"], words["doctor"]))
    if key in NOTIFICATION_SAMPLES:
        del context["appointment"], context["patient"]
        context["data"] = NOTIFICATION_SAMPLES[key]["ru" if language_of(locale) == "ru" else "en"]
    if key == "recall_invitation":
        # Not about an appointment: the last visit was six months and a day before the due date.
        context["recall"] = {
            "recall_type": "hygiene",
            "due_at": visit_day,
            "booking_url": "https://clinic.example/book",
            "last_visit_at": visit_day - timedelta(days=184),
        }
        context.update({"nudge": 1, "nudges": 3})
        del context["appointment"]
    context.update(overrides)
    return context
