"""What each message template is for, in a clinic administrator's words: its name, its lifecycle,
who receives it, and when it is sent with this tenant's own offsets and delays."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from babel.support import NullTranslations

from domain.settings import TenantSettings

# The groups of the template list, in order; "billing" holds invoices and prepaid balances alike.
LIFECYCLES = ("appointment", "lesson", "billing", "chat", "recall", "waitlist", "notification", "any")


def _(message: str) -> str:
    """Marks a string for extraction; it is translated where it is shown."""
    return message


@dataclass(frozen=True)
class Guide:
    lifecycle: str
    audience: str  # "patient", "staff", "student and guardian", "payer", "contact"
    name: str
    # Said with the tenant's settings: a function of them and the UI's translations.
    when: Callable[[TenantSettings, NullTranslations], str]


def duration(value: timedelta, t: NullTranslations) -> str:
    """`24 h`, `30 min`, `3 d`, `5 s`: the largest whole unit, as staff speak of offsets."""
    seconds = int(value.total_seconds())
    # Days from two on: "24 h before" is how a clinic says the day-before reminder.
    for size, unit in ((86400, _("%(n)s d")), (3600, _("%(n)s h")), (60, _("%(n)s min"))):
        if seconds and seconds % size == 0 and (size != 86400 or seconds >= 2 * size):
            return t.gettext(unit) % {"n": seconds // size}
    return t.gettext(_("%(n)s s")) % {"n": seconds}


def durations(values: Sequence[timedelta], t: NullTranslations) -> str:
    """`24 h and 2 h`, `0 d, 3 d and 7 d`."""
    parts = [duration(value, t) for value in values]
    if len(parts) < 2:
        return "".join(parts)
    conjunction = t.gettext(_("and"))
    return f"{', '.join(parts[:-1])} {conjunction} {parts[-1]}"


def _fixed(text: str) -> Callable[[TenantSettings, NullTranslations], str]:
    return lambda settings, t: t.gettext(text)


def _with(
    text: str, **values: Callable[[TenantSettings, NullTranslations], str]
) -> Callable[[TenantSettings, NullTranslations], str]:
    return lambda settings, t: t.gettext(text) % {name: say(settings, t) for name, say in values.items()}


def _nudges(settings: TenantSettings, t: NullTranslations) -> str:
    later = [offset for offset in settings.payment_nudge_offsets if offset > timedelta(0)]
    return durations(later, t) if later else "—"


def _digest(settings: TenantSettings, t: NullTranslations) -> str:
    if not settings.staff_digest_minutes:
        return t.gettext(_("off: each staff message goes at once (setting staff_digest_minutes)"))
    every = duration(timedelta(minutes=settings.staff_digest_minutes), t)
    return t.gettext(_("at most every %(every)s, listing the staff messages that are not urgent")) % {
        "every": every
    }


def _ladder(settings: TenantSettings, t: NullTranslations) -> str:
    later = [offset for offset in settings.recall_ladder if offset > timedelta(0)]
    return durations(later, t) if later else "—"


GUIDE: dict[str, Guide] = {
    "booking_received": Guide(
        "appointment",
        "patient",
        _("Booking received"),
        _fixed(_("at once when a patient books online; the booking waits for staff to confirm it")),
    ),
    "appointment_confirmed": Guide(
        "appointment",
        "patient",
        _("Appointment confirmed"),
        _fixed(_("at once when the appointment is confirmed, with an add-to-calendar file")),
    ),
    "visit_reminder": Guide(
        "appointment",
        "patient",
        _("Visit reminder"),
        _with(
            _("%(offsets)s before the visit, asking whether the patient will come"),
            offsets=lambda s, t: durations(s.reminder_offsets, t),
        ),
    ),
    "appointment_rescheduled": Guide(
        "appointment",
        "patient",
        _("Visit moved"),
        _fixed(_("when the visit moves to another time")),
    ),
    "appointment_cancelled": Guide(
        "appointment",
        "patient",
        _("Visit cancelled"),
        _fixed(_("when the visit is cancelled")),
    ),
    "appointment_rejected": Guide(
        "appointment",
        "patient",
        _("Booking declined"),
        _fixed(_("when staff decline an online booking")),
    ),
    "appointment_missed": Guide(
        "appointment",
        "patient",
        _("Missed visit"),
        _fixed(_("after the patient did not come")),
    ),
    "feedback_request": Guide(
        "appointment",
        "patient",
        _("Feedback request"),
        _with(_("%(delay)s after the visit"), delay=lambda s, t: duration(s.feedback_delay, t)),
    ),
    "feedback_followup": Guide(
        "appointment",
        "patient",
        _("Feedback reminder"),
        _with(
            _("%(delay)s after the feedback request, once, if the patient has not answered"),
            delay=lambda s, t: duration(s.feedback_followup_delay, t),
        ),
    ),
    "staff_booking_to_confirm": Guide(
        "appointment",
        "staff",
        _("Booking to confirm"),
        _fixed(
            _(
                "when a patient books online: at once if booked after hours for early next day, "
                "else at opening"
            )
        ),
    ),
    "staff_confirmation_overdue": Guide(
        "appointment",
        "staff",
        _("Confirmation overdue"),
        _with(
            _("%(sla)s after an online booking nobody has confirmed"),
            sla=lambda s, t: duration(s.confirmation_sla, t),
        ),
    ),
    "staff_attendance_declined": Guide(
        "appointment",
        "staff",
        _("Patient cannot come"),
        _fixed(_("when a patient answers they cannot come")),
    ),
    "staff_low_rating": Guide(
        "appointment",
        "staff",
        _("Low rating"),
        _with(
            _("when a patient rates a visit %(threshold)s of 5 or lower"),
            threshold=lambda s, t: str(s.low_rating_threshold),
        ),
    ),
    "lesson_reminder": Guide(
        "lesson",
        "student and guardian",
        _("Lesson reminder"),
        _with(
            _("%(offsets)s before the lesson, to the student and the guardian, with the join link"),
            offsets=lambda s, t: durations(s.reminder_offsets, t),
        ),
    ),
    "lesson_rescheduled": Guide(
        "lesson",
        "student and guardian",
        _("Lesson moved"),
        _fixed(_("when the lesson moves to another time")),
    ),
    "lesson_cancelled": Guide(
        "lesson",
        "student and guardian",
        _("Lesson cancelled"),
        _fixed(_("when the lesson is cancelled")),
    ),
    "lesson_feedback_request": Guide(
        "lesson",
        "guardian",
        _("Trial lesson feedback"),
        _with(
            _("%(delay)s after a trial lesson, to the guardian"),
            delay=lambda s, t: duration(s.feedback_delay, t),
        ),
    ),
    "lesson_feedback_followup": Guide(
        "lesson",
        "guardian",
        _("Trial lesson feedback reminder"),
        _with(
            _("%(delay)s after the feedback request, once, if the guardian has not answered"),
            delay=lambda s, t: duration(s.feedback_followup_delay, t),
        ),
    ),
    "payment_nudge": Guide(
        "billing",
        "payer",
        _("Invoice payment reminder"),
        _with(_("on the due date, then %(later)s after it, until the invoice is paid"), later=_nudges),
    ),
    "balance_nudge": Guide(
        "billing",
        "payer",
        _("Low balance reminder"),
        _with(
            _("when the prepaid balance runs low, then %(later)s after, until it is topped up"), later=_nudges
        ),
    ),
    "staff_payment_overdue": Guide(
        "billing",
        "staff",
        _("Payment overdue"),
        _with(
            _("%(delay)s after the last payment reminder, to a manager"),
            delay=lambda s, t: duration(s.payment_escalation_delay, t),
        ),
    ),
    "staff_payment_reported": Guide(
        "billing",
        "staff",
        _("Payer says it is paid"),
        _fixed(_('when the payer presses "I\'ve paid" under a payment reminder, to a manager')),
    ),
    "chat_unread_push": Guide(
        "chat",
        "contact",
        _("Unread chat message (push)"),
        _with(
            _("%(delay)s after a chat message nobody read, at any hour"),
            delay=lambda s, t: duration(s.chat_push_delay, t),
        ),
    ),
    "chat_unread_sms": Guide(
        "chat",
        "contact",
        _("Unread chat message (SMS)"),
        _with(
            _("%(delay)s after a chat message still unread, outside quiet hours"),
            delay=lambda s, t: duration(s.chat_sms_delay, t),
        ),
    ),
    "recall_invitation": Guide(
        "recall",
        "patient",
        _("Invitation to a regular visit"),
        _with(
            _("on the patient's recall due date, then %(later)s after it, while no visit is booked"),
            later=_ladder,
        ),
    ),
    "lesson_reminder_family": Guide(
        "lesson",
        "guardian",
        _("Lesson reminder for several children"),
        _fixed(_("instead of separate reminders, when one guardian has several lessons at the same time")),
    ),
    "slot_offer": Guide(
        "waitlist",
        "patient",
        _("A free slot offered"),
        _with(
            _(
                "when a slot is freed, to the waitlisted patients it suits, "
                "%(batch)s every %(spacing)s, until %(cutoff)s before it"
            ),
            batch=lambda s, t: str(s.slot_offer_batch),
            spacing=lambda s, t: duration(s.slot_offer_spacing, t),
            cutoff=lambda s, t: duration(s.slot_offer_cutoff, t),
        ),
    ),
    "slot_claimed": Guide(
        "waitlist",
        "patient",
        _("Slot held for you"),
        _fixed(_("to the first patient who accepts a free slot")),
    ),
    "slot_already_taken": Guide(
        "waitlist",
        "patient",
        _("Slot already taken"),
        _fixed(_("to a patient who accepts a free slot another patient took first")),
    ),
    "order_status": Guide(
        "notification",
        "contact",
        _("Order status"),
        _fixed(_("when the backend asks for it, at once or at its time")),
    ),
    "manager_note": Guide(
        "notification",
        "contact",
        _("Note from a manager"),
        _fixed(_("when the backend asks for it, at once or at its time")),
    ),
    "telegram_offer": Guide(
        "any",
        "patient",
        _("Offer of reminders in Telegram"),
        _fixed(_("a line under the first confirmation sent by SMS, WhatsApp or email, once per patient")),
    ),
    "telegram_welcome": Guide(
        "any",
        "patient",
        _("Welcome in Telegram"),
        _fixed(_("when a patient presses Start in the clinic's bot")),
    ),
    "staff_digest": Guide("any", "staff", _("Staff digest"), _digest),
    "staff_delivery_failed": Guide(
        "any",
        "staff",
        _("Message not delivered"),
        _fixed(_("when a message of any lifecycle reached the recipient on no channel")),
    ),
}


def lifecycle_of(key: str) -> str:
    """The group a template belongs to; a key the guide does not know yet goes by its first word."""
    if key in GUIDE:
        return GUIDE[key].lifecycle
    first = key.removeprefix("staff_").split("_")[0]
    return {"payment": "billing", "invoice": "billing", "balance": "billing"}.get(
        first, first if first in LIFECYCLES else "any"
    )


def template_names(t: NullTranslations) -> dict[str, str]:
    """Each known template's name in the UI's language, for the pages that list messages."""
    return {key: t.gettext(guide.name) for key, guide in GUIDE.items()}
