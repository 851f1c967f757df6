"""What a template sees: the recipient, the moment, the lifecycle's data and the message's facts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from activities.models import SendMessageInput
from domain.contacts import Contact
from domain.events import Appointment


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


def render_context(input: SendMessageInput, recipient: Contact, now: datetime) -> dict[str, Any]:
    context: dict[str, Any] = {
        "recipient": {"name": recipient.name, "locale": recipient.locale, "timezone": recipient.timezone},
        "now": now,
        **input.message.facts.model_dump(),
    }
    if input.appointment is not None:
        context["appointment"] = appointment_context(input.appointment)
        context["patient"] = {"name": input.appointment.patient.name}
    return context
