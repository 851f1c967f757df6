"""Concurrent writes share a commit, each caller still sees only its own outcome."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event as sa_event

from store import InboundEventKey, Store


def key(event_id: str) -> InboundEventKey:
    return InboundEventKey(
        source="crm", event_id=event_id, type="appointment.booked", workflow_id="w", payload={"id": event_id}
    )


def count_commits(store: Store) -> list[int]:
    commits = [0]

    def on_commit(_conn: Any) -> None:
        commits[0] += 1

    sa_event.listen(store.engine.sync_engine, "commit", on_commit)
    return commits


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
