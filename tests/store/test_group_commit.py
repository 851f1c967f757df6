"""Concurrent writes share a commit, each caller still sees only its own outcome."""

from __future__ import annotations

import asyncio
from typing import Any

from domain.contacts import Contact
from store import InboundEventKey, Store
from tests.store.counting import count_commits, count_statements


def key(event_id: str) -> InboundEventKey:
    return InboundEventKey(
        source="crm", event_id=event_id, type="appointment.booked", workflow_id="w", payload={"id": event_id}
    )


async def test_a_burst_of_claims_is_committed_together_and_each_caller_gets_its_own(store: Store) -> None:
    commits = count_commits(store)

    results = await asyncio.gather(*(store.claim_events("demo", [key(f"e-{i}")]) for i in range(30)))

    assert results == [{("crm", f"e-{i}"): "new"} for i in range(30)]
    assert commits[0] < 30 / 4
    # Durable once returned: the next claim of any of them is a redelivery.
    assert await store.claim_events("demo", [key("e-29")]) == {("crm", "e-29"): "received"}


async def test_one_bad_write_fails_only_its_caller(store: Store) -> None:
    async def bad() -> None:
        await store.mark_events("demo", [("crm", "e-1")], "sent")  # not a status events can settle in

    outcomes = await asyncio.gather(
        store.claim_events("demo", [key("e-1")]),
        bad(),
        store.claim_events("demo", [key("e-2")]),
        return_exceptions=True,
    )

    assert outcomes[0] == {("crm", "e-1"): "new"}
    assert isinstance(outcomes[1], ValueError)
    assert outcomes[2] == {("crm", "e-2"): "new"}
    assert await store.claim_events("demo", [key("e-1"), key("e-2")]) == {
        ("crm", "e-1"): "received",
        ("crm", "e-2"): "received",
    }


async def test_concurrent_requests_claims_are_one_insert_each_batch_and_a_shared_event_is_new_once(
    store: Store,
) -> None:
    await store.ensure_tenant("demo", "Demo clinic", "demo-key")
    await store.ensure_tenant("school", "A school", "school-key")
    commits, inserts = count_commits(store), count_statements(store, "INSERT INTO inbound_events")

    # Twenty requests at once, each with its own event and contact, all carrying one shared event
    # and one shared contact; the last two are the other tenant's, whose "shared" is its own
    def request(i: int) -> Any:
        tenant = "school" if i >= 18 else "demo"
        contacts = [Contact(id=f"p-{i}", name=f"Own {i}"), Contact(id="p-shared", name=f"Shared {i}")]
        return store.claim_events(tenant, [key(f"e-{i}"), key("shared")], contacts)

    results = await asyncio.gather(*(request(i) for i in range(20)))

    assert [r[("crm", f"e-{i}")] for i, r in enumerate(results)] == ["new"] * 20
    demo, school = [r[("crm", "shared")] for r in results[:18]], [r[("crm", "shared")] for r in results[18:]]
    assert sorted(demo) == ["new"] + ["received"] * 17
    assert sorted(school) == ["new", "received"]
    assert inserts[0] <= commits[0] < 20 / 4
    shared = await store.get_contact("demo", "p-shared")
    assert shared is not None and shared.name in {f"Shared {i}" for i in range(18)}
    assert (await store.get_contact("school", "p-19")) == Contact(id="p-19", name="Own 19")
    assert await store.get_contact("demo", "p-19") is None
    # Durable and still one each: a redelivery of any of them is not new
    assert await store.claim_events("demo", [key("shared"), key("e-3")]) == {
        ("crm", "shared"): "received",
        ("crm", "e-3"): "received",
    }


async def test_concurrent_settlements_are_one_update_each_batch(store: Store) -> None:
    await store.ensure_tenant("demo", "Demo clinic", "demo-key")
    await store.claim_events("demo", [key(f"e-{i}") for i in range(30)])
    commits, updates = count_commits(store), count_statements(store, "UPDATE inbound_events")

    await asyncio.gather(
        *(store.mark_events("demo", [("crm", f"e-{i}")], "routed" if i % 3 else "ignored") for i in range(30))
    )

    assert updates[0] <= 2 * commits[0] < 30 / 2  # one per status in each batch
    statuses = await store.claim_events("demo", [key(f"e-{i}") for i in range(30)])
    assert statuses == {("crm", f"e-{i}"): "routed" if i % 3 else "ignored" for i in range(30)}
