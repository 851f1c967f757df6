"""What a template sees: the recipient, the moment, the lifecycle's data and the message's facts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from activities.models import SendMessageInput
from domain.contacts import Contact
from domain.events import Appointment, Balance, Invoice, Lesson


def appointment_context(appointment: Appointment) -> dict[str, Any]:
    return {
        "id": appointment.appointment_id,
        "starts_at": appointment.starts_at,
        "ends_at": appointment.starts_at + timedelta(minutes=appointment.duration_minutes),
        "duration_minutes": appointment.duration_minutes,
        "service": appointment.service.model_dump(),
        "doctor": appointment.doctor.model_dump(),
        "location": appointment.location.model_dump(),
    }


def lesson_context(lesson: Lesson) -> dict[str, Any]:
    return {
        "id": lesson.lesson_id,
        "starts_at": lesson.starts_at,
        "ends_at": lesson.starts_at + timedelta(minutes=lesson.duration_minutes),
        "duration_minutes": lesson.duration_minutes,
        "teacher": lesson.teacher.model_dump(),
        "join_url": lesson.join_url,
        "trial": lesson.trial,
        "student": {"name": lesson.student.name},
    }


def invoice_context(invoice: Invoice) -> dict[str, Any]:
    return {
        "id": invoice.invoice_id,
        "amount": invoice.amount,
        "currency": invoice.currency,
        "due_at": invoice.due_at,
        "pay_url": invoice.pay_url,
        "payer": {"name": invoice.contact.name},
    }


def balance_context(balance: Balance) -> dict[str, Any]:
    return {
        "account_id": balance.account_id,
        "lessons_left": balance.lessons_left,
        "pay_url": balance.pay_url,
        "payer": {"name": balance.contact.name},
    }


def render_context(input: SendMessageInput, recipient: Contact, now: datetime) -> dict[str, Any]:
    context: dict[str, Any] = {
        "recipient": {"name": recipient.name, "locale": recipient.locale, "timezone": recipient.timezone},
        "now": now,
        **input.message.facts.model_dump(),
    }
    if input.appointment is not None:
        context["appointment"] = appointment_context(input.appointment)
        context["patient"] = {"name": input.appointment.patient.name}
    if input.lesson is not None:
        context["lesson"] = lesson_context(input.lesson)
    if input.invoice is not None:
        context["invoice"] = invoice_context(input.invoice)
    if input.balance is not None:
        context["balance"] = balance_context(input.balance)
    if input.chat is not None:
        context["chat"] = input.chat.model_dump()
    if input.recall is not None:
        context["recall"] = input.recall.model_dump()
    if input.notification is not None:
        context["data"] = input.notification.data
    return context
