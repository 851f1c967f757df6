"""The waitlist's store contract on SQLite and PostgreSQL: entries per tenant, offers once, the daily cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.events import WaitlistJoined
from store import Store, Waitlist
from tests.factories import patient

T0 = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)


def joined(entry_id: str, patient_id: str, **wants: object) -> WaitlistJoined:
    return WaitlistJoined.model_validate({"entry_id": entry_id, "patient": patient(id=patient_id), **wants})


async def test_entries_are_per_tenant_oldest_first_and_leaving_removes_one(store: Store) -> None:
    waitlist = Waitlist(store.engine)
    await waitlist.join("a", joined("e-2", "p-2"), T0 + timedelta(hours=1))
    await waitlist.join("a", joined("e-1", "p-1", doctor_id="d-7"), T0)
    await waitlist.join("b", joined("e-1", "p-9"), T0)
    await waitlist.join("a", joined("e-3", "p-3"), T0 + timedelta(hours=2))
    await waitlist.leave("a", "e-3", T0 + timedelta(hours=3))

    waiting = await waitlist.waiting("a", "slot-1")
    assert [(e.entry_id, e.patient_id, e.doctor_id) for e in waiting] == [
        ("e-1", "p-1", "d-7"),
        ("e-2", "p-2", None),
    ]
    assert [e.patient_id for e in await waitlist.waiting("b", "slot-1")] == ["p-9"]


async def test_an_entry_is_offered_a_slot_once_and_a_retried_batch_finds_its_offers(store: Store) -> None:
    waitlist = Waitlist(store.engine)
    for n in range(3):
        await waitlist.join("a", joined(f"e-{n}", f"p-{n}"), T0 + timedelta(minutes=n))
    candidates = [(e, "2030-03-01") for e in await waitlist.waiting("a", "slot-1")]

    offered, capped = await waitlist.reserve("a", "slot-1", 1, candidates, limit=2, per_day=3)

    assert (offered, capped) == (["e-0", "e-1"], [])
    assert await waitlist.offered("a", "slot-1", 1) == ["e-0", "e-1"]
    assert [e.entry_id for e in await waitlist.waiting("a", "slot-1")] == ["e-2"]


async def test_the_daily_cap_counts_a_patients_offers_across_slots_on_their_day(store: Store) -> None:
    waitlist = Waitlist(store.engine)
    await waitlist.join("a", joined("e-1", "p-1"), T0)
    for n, slot in enumerate(("s-1", "s-2")):
        [entry] = await waitlist.waiting("a", slot)
        offered, _ = await waitlist.reserve("a", slot, 1, [(entry, "2030-03-01")], limit=10, per_day=2)
        assert offered == ["e-1"], n

    [entry] = await waitlist.waiting("a", "s-3")
    assert await waitlist.reserve("a", "s-3", 1, [(entry, "2030-03-01")], limit=10, per_day=2) == (
        [],
        ["e-1"],
    )
    # The next day counts afresh; another tenant's patient of the same id is another person
    assert await waitlist.reserve("a", "s-3", 1, [(entry, "2030-03-02")], limit=10, per_day=2) == (
        ["e-1"],
        [],
    )
    assert await waitlist.offers_today("b", "p-1", "2030-03-01") == 0
