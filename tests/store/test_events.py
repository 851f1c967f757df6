"""Inbound CloudEvents are claimed once per tenant and source and wait, as the outbox, until settled."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from store import InboundEventKey, Store


def event(event_id: str, source: str = "crm") -> InboundEventKey:
    return InboundEventKey(
        source=source,
        event_id=event_id,
        type="appointment.booked",
        subject=f"appt-{event_id}",
        workflow_id=f"appointment-appt-{event_id}",
        payload={"id": event_id},
    )


async def test_first_claim_is_new_and_a_redelivery_is_reported_as_received(store: Store) -> None:
    assert await store.claim_events("clinic", [event("1")]) == {("crm", "1"): "new"}

    assert await store.claim_events("clinic", [event("1"), event("2")]) == {
        ("crm", "1"): "received",
        ("crm", "2"): "new",
    }


async def test_the_same_event_id_is_new_for_another_tenant_or_another_source(store: Store) -> None:
    await store.claim_events("clinic", [event("1")])

    assert await store.claim_events("school", [event("1")]) == {("crm", "1"): "new"}
    assert await store.claim_events("clinic", [event("1", source="calendar")]) == {("calendar", "1"): "new"}


async def test_a_repeated_event_within_one_batch_is_claimed_once(store: Store) -> None:
    assert await store.claim_events("clinic", [event("1"), event("1")]) == {("crm", "1"): "new"}


async def test_an_empty_batch_claims_nothing(store: Store) -> None:
    assert await store.claim_events("clinic", []) == {}


async def test_marked_events_report_their_settled_status(store: Store) -> None:
    await store.claim_events("clinic", [event("1"), event("2"), event("3")])

    await store.mark_events("clinic", [("crm", "1")], "routed")
    await store.mark_events("clinic", [("crm", "2")], "ignored")

    assert await store.claim_events("clinic", [event("1"), event("2"), event("3")]) == {
        ("crm", "1"): "routed",
        ("crm", "2"): "ignored",
        ("crm", "3"): "received",
    }


async def test_marking_events_received_again_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="routed or ignored"):
        await store.mark_events("clinic", [("crm", "1")], "received")


async def test_claimed_events_wait_in_the_outbox_oldest_first_until_settled(store: Store) -> None:
    await store.claim_events("clinic", [event("1"), event("2")])
    await store.claim_events("school", [event("3")])
    later = datetime.now(UTC) + timedelta(seconds=1)

    pending = await store.pending_events(later)
    assert [(p.tenant, p.event_id, p.payload) for p in pending] == [
        ("clinic", "1", {"id": "1"}),
        ("clinic", "2", {"id": "2"}),
        ("school", "3", {"id": "3"}),
    ]
    assert pending[0].workflow_id == "appointment-appt-1"

    await store.mark_events("clinic", [("crm", "1")], "routed")
    await store.mark_events("school", [("crm", "3")], "ignored")
    assert [p.event_id for p in await store.pending_events(later)] == ["2"]


async def test_only_events_received_before_the_given_moment_are_pending(store: Store) -> None:
    await store.claim_events("clinic", [event("1")])

    assert await store.pending_events(datetime.now(UTC) - timedelta(minutes=1)) == []


async def test_an_event_no_workflow_owns_is_settled_on_arrival(store: Store) -> None:
    contact_update = event("c").model_copy(update={"workflow_id": None, "payload": None})

    assert await store.claim_events("clinic", [contact_update]) == {("crm", "c"): "new"}
    assert await store.claim_events("clinic", [contact_update]) == {("crm", "c"): "routed"}
    assert await store.pending_events(datetime.now(UTC) + timedelta(seconds=1)) == []


async def test_concurrent_claims_of_one_event_give_new_to_exactly_one_caller(store: Store) -> None:
    claims = await asyncio.gather(*(store.claim_events("clinic", [event("1")]) for _ in range(10)))

    assert sorted(claim[("crm", "1")] for claim in claims) == ["new"] + ["received"] * 9
