"""Inbound CloudEvents are claimed once per tenant and source, and can be settled or forgotten."""

from __future__ import annotations

import asyncio

import pytest

from store import InboundEventKey, Store


def event(event_id: str, source: str = "crm") -> InboundEventKey:
    return InboundEventKey(
        source=source,
        event_id=event_id,
        type="appointment.booked",
        subject=f"appt-{event_id}",
        workflow_id=f"appointment-appt-{event_id}",
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


async def test_a_forgotten_event_can_be_claimed_again_after_routing_failed(store: Store) -> None:
    await store.claim_events("clinic", [event("1"), event("2")])
    await store.mark_events("clinic", [("crm", "2")], "routed")

    await store.forget_events("clinic", [("crm", "1"), ("crm", "2")])

    assert await store.claim_events("clinic", [event("1"), event("2")]) == {
        ("crm", "1"): "new",
        ("crm", "2"): "routed",
    }


async def test_forgetting_is_per_tenant(store: Store) -> None:
    await store.claim_events("clinic", [event("1")])

    await store.forget_events("school", [("crm", "1")])

    assert await store.claim_events("clinic", [event("1")]) == {("crm", "1"): "received"}


async def test_concurrent_claims_of_one_event_give_new_to_exactly_one_caller(store: Store) -> None:
    claims = await asyncio.gather(*(store.claim_events("clinic", [event("1")]) for _ in range(10)))

    assert sorted(claim[("crm", "1")] for claim in claims) == ["new"] + ["received"] * 9
