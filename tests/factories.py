"""Builders of realistic events for tests: a Moscow clinic, a patient, an appointment."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from domain.events import DomainEvent

_ids = itertools.count(1)


def patient(**overrides: Any) -> dict[str, Any]:
    contact = {
        "id": "patient-1",
        "name": "Анна Петрова",
        "locale": "ru-RU",
        "timezone": "Europe/Moscow",
        "phone": "+79161234567",
    }
    return {**contact, **overrides}


def appointment(appointment_id: str, starts_at: datetime, **overrides: Any) -> dict[str, Any]:
    data = {
        "appointment_id": appointment_id,
        "patient": patient(),
        "starts_at": starts_at.isoformat(),
        "duration_minutes": 30,
        "service": {"code": "CHK", "name": "Осмотр стоматолога"},
        "doctor": {"id": "d-7", "name": "Иван Смирнов"},
        "location": {
            "id": "loc-1",
            "name": "Клиника на Арбате",
            "address": "Москва, ул. Арбат, 10",
            "timezone": "Europe/Moscow",
        },
    }
    return {**data, **overrides}


def event(
    type: str,
    data: dict[str, Any],
    *,
    received_at: datetime,
    sequence: int | None = None,
    event_id: str | None = None,
    tenant: str = "demo",
) -> DomainEvent:
    return DomainEvent(
        id=event_id or f"evt-{next(_ids)}",
        source="/clinic/backend",
        type=type,
        tenant=tenant,
        sequence=sequence,
        received_at=received_at,
        data=data,
    )
