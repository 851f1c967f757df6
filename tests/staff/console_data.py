"""A clinic's delivery log written straight into the store, for the console's page tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.contacts import Contact
from store import Store
from store.tables import DeliveryAttemptRow, DeliveryEventRow, DeliveryRow, InboundEventRow

_keys = itertools.count(1)
NOON = datetime(2030, 3, 14, 9, 0, tzinfo=UTC)  # 12:00 in Moscow


async def add_delivery(
    store: Store,
    tenant: str,
    contact_id: str,
    *,
    subject: str = "appointment:a-1",
    template: str = "visit_reminder",
    step: str = "reminder-24h",
    channel: str | None = "sms",
    provider: str | None = "smsaero",
    status: str = "sent",
    body: str | None = "Ждём вас завтра в 12:00",
    at: datetime = NOON,
    cost: float | None = 0.05,
    reason: str | None = None,
    callbacks: tuple[str, ...] = (),
    sent_at: datetime | None = None,
    **fields: Any,
) -> int:
    """One message with an attempt (unless planned) and the given provider callbacks; its id."""
    kind, _, aggregate_id = subject.partition(":")
    n = next(_keys)
    async with AsyncSession(store.engine) as session, session.begin():
        row = DeliveryRow(
            tenant=tenant,
            idempotency_key=f"{kind}:{tenant}:{aggregate_id}/{step}/{n}",
            subject=subject,
            workflow_id=f"{kind}:{tenant}:{aggregate_id}",
            step=step,
            contact_id=contact_id,
            template=template,
            scheduled_for=at,
            channel=channel,
            provider=provider,
            locale="ru",
            body=body,
            attachments=[],
            status=status,
            reason=reason,
            provider_message_id=f"pm-{n}" if status != "planned" else None,
            cost=cost,
            sent_at=sent_at or (at if status in ("sent", "delivered", "read") else None),
            created_at=at,
            updated_at=at,
            **fields,
        )
        session.add(row)
        await session.flush()
        if status != "planned":
            session.add(
                DeliveryAttemptRow(
                    delivery_id=row.id,
                    attempt=1,
                    channel=channel,
                    provider=provider,
                    status=status,
                    reason=reason,
                    provider_message_id=row.provider_message_id,
                    cost=cost,
                    at=at,
                )
            )
        for i, callback in enumerate(callbacks):
            session.add(
                DeliveryEventRow(
                    delivery_id=row.id,
                    provider=provider or "outbox",
                    provider_message_id=f"pm-{n}",
                    status=callback,
                    detail=f"{callback} by the operator",
                    at=at + timedelta(seconds=5 * (i + 1)),
                )
            )
        return row.id


async def a_clinic(store: Store, tenant: str = "demo") -> dict[str, int]:
    """Anna (appointment, SMS, delivered), Boris (lesson, Telegram, failed), a planned invoice nudge."""
    await store.upsert_contacts(
        tenant,
        [
            Contact(
                id="p-anna", name="Анна Петрова", phone="+79161234567", locale="ru", timezone="Europe/Moscow"
            ),
            Contact(
                id="p-boris", name="Boris Klein", phone="+375291112233", locale="en", timezone="Europe/Minsk"
            ),
        ],
    )
    return {
        "anna": await add_delivery(store, tenant, "p-anna", callbacks=("delivered",)),
        "boris": await add_delivery(
            store,
            tenant,
            "p-boris",
            subject="lesson:l-9",
            template="lesson_reminder",
            step="reminder-2h",
            channel="telegram",
            provider="telegram",
            status="failed",
            cost=None,
            reason="bot was blocked",
            at=NOON + timedelta(days=1),
        ),
        "invoice": await add_delivery(
            store,
            tenant,
            "p-anna",
            subject="invoice:inv-3",
            template="payment_nudge",
            step="nudge-0",
            status="planned",
            body=None,
            cost=None,
            at=NOON + timedelta(days=2),
        ),
    }


async def add_event(
    store: Store, tenant: str, subject: str, type: str, data: dict[str, Any], received_at: datetime = NOON
) -> None:
    """An accepted event of one lifecycle, as the ingest stores it."""
    kind, _, aggregate_id = subject.partition(":")
    n = next(_keys)
    async with AsyncSession(store.engine) as session, session.begin():
        session.add(
            InboundEventRow(
                tenant=tenant,
                source="/clinic/backend",
                event_id=f"evt-{n}",
                type=type,
                subject=aggregate_id,
                workflow_id=f"{kind}:{tenant}:{aggregate_id}",
                status="routed",
                received_at=received_at,
                payload={"id": f"evt-{n}", "type": type, "sequence": n, "data": data},
            )
        )
