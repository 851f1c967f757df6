"""Appointment events as a clinic backend posts them, posting them over HTTP, reading the delivery log."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.stack import KEY
from store import Store
from store.tables import DeliveryAttemptRow, DeliveryRow

STRUCTURED = {"Content-Type": "application/cloudevents+json", **KEY}
BATCH = {"Content-Type": "application/cloudevents-batch+json", **KEY}


def confirmed(
    appointment_id: str, starts_at: datetime, locale: str = "ru-RU", opted_out: Sequence[str] = ()
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "appointment_id": appointment_id,
        "patient": {
            "id": f"p-{appointment_id}",
            "name": "Анна Петрова" if locale.startswith("ru") else "Anna Smith",
            "locale": locale,
            "timezone": "Europe/Moscow",
            "phone": "+79161234567",
            "opted_out": list(opted_out),
        },
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
    return envelope("appointment.confirmed", appointment_id, data, sequence=1)


def cancelled(appointment_id: str) -> dict[str, Any]:
    data = {"appointment_id": appointment_id, "cancelled_by": "patient", "reason": "bench"}
    return envelope("appointment.cancelled", appointment_id, data, sequence=2)


def rescheduled(appointment_id: str, starts_at: datetime) -> dict[str, Any]:
    data = {"appointment_id": appointment_id, "starts_at": starts_at.isoformat(), "duration_minutes": 30}
    return envelope("appointment.rescheduled", appointment_id, data, sequence=2)


def envelope(kind: str, appointment_id: str, data: dict[str, Any], sequence: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"{kind}:{appointment_id}",
        "source": "/bench/backend",
        "type": kind,
        "subject": appointment_id,
        "tenant": "demo",
        "sequence": str(sequence),
        "data": data,
    }


async def post_batches(
    api_url: str, events: Sequence[dict[str, Any]], size: int = 50, clients: int = 4
) -> None:
    """Post events as CloudEvents batches: the quick way to set up many appointments."""
    batches = [list(events[i : i + size]) for i in range(0, len(events), size)]
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=api_url, timeout=120, limits=limits) as http:
        gate = asyncio.Semaphore(clients)

        async def post(batch: list[dict[str, Any]]) -> None:
            async with gate:
                response = await http.post("/v1/events", headers=BATCH, content=json.dumps(batch))
            if response.status_code != 202:
                raise RuntimeError(f"POST /v1/events answered {response.status_code}: {response.text[:300]}")

        await asyncio.gather(*(post(b) for b in batches))


async def put_settings(api_url: str, settings: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        response = await http.put("/v1/settings", json=settings, headers=KEY)
        response.raise_for_status()


async def sent(store: Store, step_prefix: str) -> list[tuple[str, str, datetime, datetime]]:
    """(subject, step, scheduled_for, sent_at) of every sent delivery whose step starts with the prefix."""
    query = select(DeliveryRow.subject, DeliveryRow.step, DeliveryRow.scheduled_for, DeliveryRow.sent_at)
    query = query.where(DeliveryRow.status == "sent", DeliveryRow.step.startswith(step_prefix))
    async with store.engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows if r[3] is not None]


async def recorded(store: Store, step_prefix: str) -> int:
    """Deliveries of the step that reached a final status (sent, skipped or failed)."""
    query = select(func.count()).select_from(DeliveryRow)
    query = query.where(DeliveryRow.status != "planned", DeliveryRow.step.startswith(step_prefix))
    async with store.engine.connect() as connection:
        return int(await connection.scalar(query) or 0)


async def duplicate_sends(store: Store) -> int:
    """Sends beyond the first of one delivery: what a recipient would get twice."""
    per_delivery = (
        select(func.count().label("n"))
        .select_from(DeliveryAttemptRow)
        .where(DeliveryAttemptRow.status == "sent")
        .group_by(DeliveryAttemptRow.delivery_id)
        .subquery()
    )
    async with store.engine.connect() as connection:
        extra = await connection.scalar(select(func.coalesce(func.sum(per_delivery.c.n - 1), 0)))
    return int(extra or 0)


async def wait_for_sent(store: Store, step_prefix: str, expected: int, patience: float) -> float:
    """Until `expected` sends of the step are recorded or patience runs out; the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < patience:
        if len(await sent(store, step_prefix)) >= expected:
            break
        await asyncio.sleep(0.5)
    return time.monotonic() - began


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def seconds(delta: timedelta) -> float:
    return delta.total_seconds()
