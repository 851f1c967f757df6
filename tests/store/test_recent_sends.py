"""What the cadence counts: one recipient's messages by category, across lifecycles, in a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.deliveries import DeliveryDraft, DeliveryOutcome, DeliveryStatus
from store import Store
from store.db import RecentSends

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
DAY_BEFORE = NOON - timedelta(days=1)


async def sent(
    store: Store, key: str, category: str | None, at: datetime, contact: str = "p-1", status: str = "sent"
) -> None:
    row, _ = await store.begin_delivery(
        DeliveryDraft(
            tenant="clinic",
            idempotency_key=key,
            subject=key.split("/")[0],
            workflow_id=key.split("/")[0],
            step=key.split("/")[1],
            contact_id=contact,
            template="visit_reminder",
            scheduled_for=at,
            category=category,
        )
    )
    if status != "planned":
        await store.finish_delivery(row.id, DeliveryOutcome(status=DeliveryStatus(status)))


async def test_a_recipients_sends_are_counted_across_lifecycles_in_the_window(store: Store) -> None:
    await sent(store, "appointment:a-1/reminder-2h", "reminders", NOON - timedelta(hours=2))
    await sent(store, "invoice:i-1/nudge-1", "billing", NOON - timedelta(hours=5))
    await sent(store, "lesson:l-1/reminder-2h", "reminders", NOON - timedelta(hours=30))  # before it
    await sent(store, "appointment:a-1/confirmation", "transactional", NOON - timedelta(hours=1))
    await sent(store, "appointment:a-2/reminder-2h", "reminders", NOON - timedelta(hours=1), contact="p-2")
    await sent(store, "appointment:a-3/reminder-2h", "reminders", NOON - timedelta(hours=1), status="skipped")
    await sent(store, "appointment:a-4/reminder-2h", "reminders", NOON - timedelta(hours=1), status="planned")

    found = await recent_sends(store, "clinic", RecentSends("p-1", ["reminders", "billing"], DAY_BEFORE))

    assert found == [(NOON - timedelta(hours=5), "billing"), (NOON - timedelta(hours=2), "reminders")]
    assert await recent_sends(store, "other", RecentSends("p-1", ["reminders"], DAY_BEFORE)) == []


async def recent_sends(store: Store, tenant: str, question: RecentSends) -> list[tuple[datetime, str]] | None:
    """As the send asks it: in the one read before it renders."""
    known = await store.before_sending(tenant, "visit_reminder", None, question)
    return known.recent_sends
