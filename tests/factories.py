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


def lesson(lesson_id: str, starts_at: datetime, **overrides: Any) -> dict[str, Any]:
    data = {
        "lesson_id": lesson_id,
        "student": {"id": "student-1", "name": "Маша", "locale": "ru", "timezone": "Europe/Moscow"},
        "guardian": {
            "id": "guardian-1",
            "name": "Ольга Иванова",
            "locale": "ru",
            "timezone": "Asia/Novosibirsk",
            "phone": "+79130000001",
        },
        "starts_at": starts_at.isoformat(),
        "duration_minutes": 45,
        "teacher": {"id": "t-1", "name": "Emily Clark"},
        "trial": False,
        "join_url": "https://school.example/join/abc",
    }
    return {**data, **overrides}


def payer(**overrides: Any) -> dict[str, Any]:
    contact = {
        "id": "payer-1",
        "name": "Ольга Иванова",
        "locale": "ru",
        "timezone": "Europe/Moscow",
        "phone": "+79130000001",
    }
    return {**contact, **overrides}


def invoice(invoice_id: str, due_at: datetime, **overrides: Any) -> dict[str, Any]:
    data = {
        "invoice_id": invoice_id,
        "contact": payer(),
        "amount": 4500.0,
        "currency": "RUB",
        "due_at": due_at.isoformat(),
        "pay_url": "https://pay.example/i/1",
    }
    return {**data, **overrides}


def balance(account_id: str, lessons_left: int = 1) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "contact": payer(),
        "lessons_left": lessons_left,
        "pay_url": "https://pay.example/b/1",
    }


def chat_message(conversation_id: str, message_id: str, **overrides: Any) -> dict[str, Any]:
    contact = {
        "id": "patient-1",
        "name": "Анна",
        "locale": "ru",
        "timezone": "Europe/Moscow",
        "phone": "+79161234567",
        "push_tokens": ["fcm-token-1"],
    }
    data = {
        "conversation_id": conversation_id,
        "message_id": message_id,
        "contact": contact,
        "sender_name": "Др. Смирнов",
        "preview": "Результаты анализов готовы",
    }
    return {**data, **overrides}
