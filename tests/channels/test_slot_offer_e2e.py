"""End to end: a freed slot offered to 25 waitlisted patients by SMS in batches of 10, two say
"yes" within a second; over real HTTP to the loopback fakes, counted at the fakes."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.channels.conftest import Fakes
from tests.channels.test_answers import key, open_desk, sms_to, text
from tests.channels.test_inbound import Desk
from tests.factories import appointment

_ids = itertools.count(1)


@pytest_asyncio.fixture
async def desk(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> AsyncIterator[Desk]:
    async with open_desk(time_env, fakes, task_queue, tmp_path) as opened:
        yield opened


def person(n: int) -> dict[str, Any]:
    return {
        "id": f"wl-{n}",
        "name": f"Patient {n}",
        "locale": "en",
        "timezone": "Europe/London",
        "phone": f"+4477008{51000 + next(_ids):05d}",
        "preferred_channels": ["sms"],
    }


async def post(desk: Desk, type: str, data: dict[str, Any], at: datetime | None = None) -> httpx.Response:
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"slot-e2e-{next(_ids)}",
        "source": "/clinic/backend",
        "type": type,
        "tenant": desk.clinic.tenant,
        "data": data,
    }
    if at is not None:
        envelope["time"] = at.isoformat()
    answer = await desk.api.post(
        "/v1/events", json=envelope, headers={**key(desk), "Content-Type": "application/cloudevents+json"}
    )
    assert answer.status_code == 202, answer.text
    return answer


def offers_sent(fakes: Fakes, people: list[dict[str, Any]]) -> list[str]:
    """The waitlisted numbers the fake Twilio was asked to text an offer to."""
    return [p["phone"] for p in people for body in sms_to(fakes, p["phone"]) if "Reply YES" in body]


async def test_a_freed_slot_goes_in_batches_and_of_two_quick_yeses_exactly_one_is_claimed(
    desk: Desk, fakes: Fakes
) -> None:
    clinic = desk.clinic
    now = await clinic.now()
    # Given 25 patients on the waitlist for this doctor, the first of them waiting longest
    people = [person(n) for n in range(25)]
    for n, someone in enumerate(people):
        joined = {"entry_id": f"entry-{n:02d}", "patient": someone, "doctor_id": "d-7"}
        await post(desk, "waitlist.joined", joined, at=now - timedelta(days=30) + timedelta(hours=n))
    # When a slot 2 h 12 min away is freed (the cut-off is 2 h: offers may go until 12 min from now)
    starts_at = now + timedelta(hours=2, minutes=12)
    slot = appointment("s-e2e", starts_at)
    del slot["appointment_id"], slot["patient"]
    await post(desk, "slot.freed", {"slot_id": "s-e2e", **slot})
    ref = "slot:s-e2e"
    await clinic.settle(ref)

    # Then the ten who waited longest are texted at once, ten more five minutes later, then five
    log = [(d.step, d.status.value, d.reason) for d in await clinic.deliveries(ref)]
    assert sorted(offers_sent(fakes, people)) == sorted(p["phone"] for p in people[:10]), log
    await clinic.advance(timedelta(minutes=5), ref)
    assert len(offers_sent(fakes, people)) == 20
    await clinic.advance(timedelta(minutes=5), ref)
    assert sorted(offers_sent(fakes, people)) == sorted(p["phone"] for p in people)

    # A patient who joins once the cut-off is near is not texted: it would be too late to come
    late = person(99)
    await clinic.advance(timedelta(minutes=1), ref)
    await post(desk, "waitlist.joined", {"entry_id": "entry-late", "patient": late, "doctor_id": "d-7"})
    await clinic.advance(timedelta(minutes=9), ref)
    assert offers_sent(fakes, [late]) == [] and len(offers_sent(fakes, people)) == 25
    log = (
        await desk.api.get("/v1/deliveries", params={"subject": "s-e2e", "kind": "slot"}, headers=key(desk))
    ).json()
    [late_offer] = [d for d in log["deliveries"] if d["contact_id"] == late["id"]]
    assert late_offer["status"] == "skipped" and "too close to the slot" in late_offer["reason"]

    # When two of them answer "yes" within the same second
    first, second = people[3], people[17]
    answers = await asyncio.gather(
        text(desk, fakes, first["phone"], "Yes"), text(desk, fakes, second["phone"], "yes")
    )
    assert [a.status_code for a in answers] == [200, 200]
    await clinic.settle(ref)

    # Then the backend hears exactly one signed slot.claimed, for one of the two
    claims = [
        r["payload"]
        for r in fakes.tenant.requests
        if r["payload"].get("type") == "slot.claimed" and r["payload"].get("tenant") == clinic.tenant
    ]
    assert len(claims) == 1
    winner_id = claims[0]["data"]["patient_id"]
    assert winner_id in (first["id"], second["id"]) and claims[0]["data"]["slot_id"] == "s-e2e"
    winner, loser = (first, second) if winner_id == first["id"] else (second, first)
    # The winner is told it is theirs, the other that it is taken, each by one SMS
    assert [b for b in sms_to(fakes, winner["phone"]) if "It's yours" in b] != []
    assert [b for b in sms_to(fakes, loser["phone"]) if "already taken" in b] != []
    assert not [b for b in sms_to(fakes, loser["phone"]) if "It's yours" in b]
    # And nobody else was texted anything after the offers
    assert all(len(sms_to(fakes, p["phone"])) == 1 for p in people if p not in (first, second))
