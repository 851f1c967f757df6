"""A freed slot offered to the waitlist on the time-skipping server: batches, spacing, the cut-off,
the daily cap per patient, and what ends the offers (a claim, `slot.taken`, the slot's start)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from typing import Any

import pytest_asyncio
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from domain.contacts import Contact
from domain.deliveries import Delivery
from domain.events import WaitlistJoined
from domain.settings import TenantSettings
from store import Store, Waitlist
from tests.factories import appointment, patient
from tests.workflows.harness import Clinic, running_clinic, skip


@pytest_asyncio.fixture
async def clinic(time_env: WorkflowEnvironment, store: Store, task_queue: str) -> AsyncIterator[Clinic]:
    async with running_clinic(time_env, store, task_queue) as clinic:
        await store.put_settings(clinic.tenant, TenantSettings(timezone="Europe/Moscow"))
        await clinic.wait_until_local(time(12, 0))
        yield clinic


def freed(slot_id: str, starts_at: datetime, **overrides: Any) -> dict[str, Any]:
    data = appointment(slot_id, starts_at)
    del data["appointment_id"], data["patient"]
    return {"slot_id": slot_id, **data, **overrides}


async def waitlisted(clinic: Clinic, count: int, prefix: str = "e", **wants: Any) -> list[str]:
    """`count` patients on the waitlist, the first of them waiting longest."""
    waitlist = Waitlist(clinic.store.engine)
    since = await clinic.now() - timedelta(days=30)
    entries = []
    for n in range(count):
        person = patient(id=f"{prefix}-p{n:02d}", phone=f"+7999{abs(hash(prefix)) % 1000:03d}{n:04d}")
        await clinic.store.upsert_contact(clinic.tenant, Contact.model_validate(person))
        joined = WaitlistJoined.model_validate({"entry_id": f"{prefix}-{n:02d}", "patient": person, **wants})
        await waitlist.join(clinic.tenant, joined, since + timedelta(hours=n))
        entries.append(joined.entry_id)
    return entries


async def offers(clinic: Clinic, slot_id: str, status: str | None = None) -> list[Delivery]:
    rows = await clinic.deliveries(f"slot:{slot_id}")
    return [r for r in rows if r.template == "slot_offer" and status in (None, r.status.value)]


def entries_of(rows: list[Delivery]) -> list[str]:
    return sorted(row.step.removeprefix("offer/") for row in rows)


async def test_offers_go_ten_at_a_time_five_minutes_apart_oldest_first_to_those_it_suits(
    clinic: Clinic,
) -> None:
    # Given 25 patients waiting for this doctor and one waiting for another
    wanted = await waitlisted(clinic, 25, doctor_id="d-7")
    await waitlisted(clinic, 1, prefix="other", doctor_id="d-99")
    starts_at = await clinic.now() + timedelta(days=1)
    # When the slot is freed
    await clinic.post("slot.freed", freed("s-1", starts_at))
    first = await offers(clinic, "s-1", "sent")
    # Then the ten who waited longest are asked at once, the next ten five minutes later
    assert entries_of(first) == wanted[:10]
    await clinic.advance(timedelta(minutes=4), "slot:s-1")
    assert len(await offers(clinic, "s-1", "sent")) == 10
    await clinic.advance(timedelta(minutes=1), "slot:s-1")
    second = [r for r in await offers(clinic, "s-1", "sent") if r not in first]
    assert entries_of(second) == wanted[10:20]
    spacing = min(r.scheduled_for for r in second) - min(r.scheduled_for for r in first)
    assert timedelta(minutes=5) <= spacing < timedelta(minutes=5, seconds=1)
    await clinic.advance(timedelta(minutes=5), "slot:s-1")
    assert (entries_of(await offers(clinic, "s-1", "sent"))) == wanted
    # And the patient waiting for another doctor is never asked
    await clinic.advance(timedelta(minutes=30), "slot:s-1")
    assert len(await offers(clinic, "s-1")) == 25
    assert "Иван Смирнов" in (first[0].body or "")


async def test_no_offer_goes_within_the_cut_off_and_the_rest_are_skipped_with_why(clinic: Clinic) -> None:
    wanted = await waitlisted(clinic, 25)
    # A slot 2 h 7 min away: batches at 0 and 5 min fit before the 2 h cut-off, a third would not
    starts_at = await clinic.now() + timedelta(hours=2, minutes=7)
    await clinic.post("slot.freed", freed("s-2", starts_at))
    await clinic.advance(timedelta(minutes=30), "slot:s-2")
    sent = await offers(clinic, "s-2", "sent")
    assert (entries_of(sent)) == wanted[:20]
    assert all(row.sent_at and row.sent_at < starts_at - timedelta(hours=2) for row in sent)
    skipped = await offers(clinic, "s-2", "skipped")
    assert (entries_of(skipped)) == wanted[20:]
    assert all("too close to the slot" in (row.reason or "") for row in skipped)


async def test_a_slot_freed_inside_the_cut_off_is_offered_to_nobody(clinic: Clinic) -> None:
    await waitlisted(clinic, 3)
    await clinic.post("slot.freed", freed("s-3", await clinic.now() + timedelta(minutes=90)))
    await clinic.advance(timedelta(minutes=10), "slot:s-3")
    assert await offers(clinic, "s-3", "sent") == []
    assert len(await offers(clinic, "s-3", "skipped")) == 3


async def test_a_patient_gets_at_most_the_daily_number_of_offers(clinic: Clinic) -> None:
    await clinic.store.put_settings(
        clinic.tenant, TenantSettings(timezone="Europe/Moscow", slot_offers_per_day=1)
    )
    [entry] = await waitlisted(clinic, 1)
    starts_at = await clinic.now() + timedelta(days=1)
    await clinic.post("slot.freed", freed("s-4a", starts_at))
    await clinic.post("slot.freed", freed("s-4b", starts_at + timedelta(hours=1)))
    await clinic.advance(timedelta(minutes=10), "slot:s-4b")
    assert entries_of(await offers(clinic, "s-4a", "sent")) == [entry]
    # The second slot the same day: not offered, and the log says why
    [capped] = await offers(clinic, "s-4b")
    assert capped.status == "skipped" and "offers for the day" in (capped.reason or "")


async def test_slot_taken_stops_the_offers_and_records_the_rest_skipped(clinic: Clinic) -> None:
    wanted = await waitlisted(clinic, 25)
    await clinic.post("slot.freed", freed("s-5", await clinic.now() + timedelta(days=1)))
    await clinic.post("slot.taken", {"slot_id": "s-5"})
    await clinic.advance(timedelta(minutes=20), "slot:s-5")
    assert (entries_of(await offers(clinic, "s-5", "sent"))) == wanted[:10]
    skipped = await offers(clinic, "s-5", "skipped")
    assert (entries_of(skipped)) == wanted[10:]
    assert all(row.reason == "the clinic filled the slot" for row in skipped)
    assert (await clinic.state("slot:s-5")).status == "taken"


async def test_the_slot_start_ends_the_offers_and_the_workflow(clinic: Clinic) -> None:
    await clinic.store.put_settings(
        clinic.tenant, TenantSettings(timezone="Europe/Moscow", slot_offer_cutoff=timedelta(0))
    )
    wanted = await waitlisted(clinic, 35)
    starts_at = await clinic.now() + timedelta(minutes=12)
    await clinic.post("slot.freed", freed("s-6", starts_at))
    await clinic.advance(timedelta(minutes=5), "slot:s-6")
    await clinic.advance(timedelta(minutes=5), "slot:s-6")
    await skip(clinic.env, timedelta(minutes=5))
    handle = clinic.env.client.get_workflow_handle(clinic.workflow_id("slot:s-6"))
    await handle.result()
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert (entries_of(await offers(clinic, "s-6", "sent"))) == wanted[:30]
    skipped = await offers(clinic, "s-6", "skipped")
    assert (entries_of(skipped)) == wanted[30:]
    assert all(row.reason == "the slot started" for row in skipped)


async def test_the_first_yes_wins_and_a_later_yes_hears_it_is_taken(clinic: Clinic) -> None:
    await waitlisted(clinic, 3)
    await clinic.post("slot.freed", freed("s-7", await clinic.now() + timedelta(days=1)))
    sent = await offers(clinic, "s-7", "sent")
    for row in (sent[2], sent[0]):
        await clinic.post(
            "slot.accepted",
            {"slot_id": "s-7", "step": row.step, "contact_id": row.contact_id, "delivery_id": row.id},
        )
    rows = await clinic.deliveries("slot:s-7")
    by_step = {row.step: row for row in rows}
    assert (
        by_step["claimed"].template == "slot.claimed" and by_step["claimed"].contact_id == sent[2].contact_id
    )
    assert by_step[f"claimed/{sent[2].step.removeprefix('offer/')}"].status == "sent"
    assert by_step[f"taken/{sent[0].step.removeprefix('offer/')}"].template == "slot_already_taken"
    assert (await clinic.state("slot:s-7")).status == "claimed"
