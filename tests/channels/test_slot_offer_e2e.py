"""End to end: a freed slot offered to 25 waitlisted patients in batches of 10, two say "yes"
within a second; over real HTTP to the loopback fakes, counted at the fakes.

The offers go by Telegram: 25 SMS from one long code take 25 s or more at Twilio's 1 segment/s
(channels/pacing.py), which is the pace, not the subject here; an SMS "yes" has its own test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.channels.conftest import Fakes
from tests.channels.test_answers import key, open_desk, sms_to, text
from tests.channels.test_inbound import TELEGRAM_SECRET, Desk
from tests.factories import appointment
from tests.fakes import ADDRESSES, telegram

_ids = ADDRESSES  # shared by every module: the fakes live for the whole session


@pytest_asyncio.fixture
async def desk(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> AsyncIterator[Desk]:
    async with open_desk(time_env, fakes, task_queue, tmp_path) as opened:
        yield opened


def person(n: int, channel: str = "telegram") -> dict[str, Any]:
    serial = next(_ids)
    return {
        "id": f"wl-{n}-{serial}",
        "name": f"Patient {n}",
        "locale": "en",
        "timezone": "Europe/London",
        "phone": f"+4477008{51000 + serial:05d}",
        "telegram_chat_id": str(880000 + serial),
        "preferred_channels": [channel],
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
    if type.startswith("slot."):
        # Terminated when the test ends: a run left behind would hold the shared test clock still.
        desk.clinic.started.add(desk.clinic.workflow_id(f"slot:{data['slot_id']}"))
    return answer


def chat(fakes: Fakes, someone: dict[str, Any]) -> list[dict[str, Any]]:
    """What the fake Telegram was asked to send to this patient's chat."""
    return [r["payload"] for r in fakes.telegram.requests if r.get("chat_id") == someone["telegram_chat_id"]]


def offers_sent(fakes: Fakes, people: list[dict[str, Any]]) -> list[str]:
    """The waitlisted patients the fake Telegram was asked to send an offer to (with its button)."""
    return [p["id"] for p in people for sent in chat(fakes, p) if sent.get("reply_markup")]


def yes_button(fakes: Fakes, someone: dict[str, Any]) -> str:
    [offer] = [sent for sent in chat(fakes, someone) if sent.get("reply_markup")]
    [[button]] = offer["reply_markup"]["inline_keyboard"]
    return str(button["callback_data"])


def ids(people: list[dict[str, Any]]) -> list[str]:
    return sorted(p["id"] for p in people)


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
    assert sorted(offers_sent(fakes, people)) == ids(people[:10]), log
    await clinic.advance(timedelta(minutes=5), ref)
    assert len(offers_sent(fakes, people)) == 20
    await clinic.advance(timedelta(minutes=5), ref)
    assert sorted(offers_sent(fakes, people)) == ids(people)

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

    # When two of them press "yes" within the same second
    first, second = people[3], people[17]
    presses = [
        telegram.callback_update(someone["telegram_chat_id"], yes_button(fakes, someone))
        for someone in (first, second)
    ]
    answers = await asyncio.gather(
        *(desk.api.post("/v1/inbound/telegram", json=press, headers=TELEGRAM_SECRET) for press in presses)
    )
    assert [a.status_code for a in answers] == [200, 200]
    await clinic.settle(ref)

    # Then the backend hears exactly one signed slot.claimed, for one of the two
    winner_id = claimed(fakes, clinic.tenant, "s-e2e")
    assert winner_id in (first["id"], second["id"])
    winner, loser = (first, second) if winner_id == first["id"] else (second, first)
    # The winner is told it is theirs, the other that it is taken
    assert [m for m in chat(fakes, winner) if "The time is yours" in m["text"]] != []
    assert [m for m in chat(fakes, loser) if "already been taken" in m["text"]] != []
    assert not [m for m in chat(fakes, loser) if "The time is yours" in m["text"]]
    timeline = await desk.api.get("/v1/timeline/slot/s-e2e", headers=key(desk))
    assert timeline.json()["status"] == "claimed"
    # And nobody else was sent anything after the offer
    assert all(len(chat(fakes, p)) == 1 for p in people if p not in (first, second))


def claimed(fakes: Fakes, tenant: str, slot_id: str) -> str:
    """The patient of the one slot.claimed the fake tenant system received (its signature checked)."""
    claims = [
        r["payload"]
        for r in fakes.tenant.requests
        if r["payload"].get("type") == "slot.claimed" and r["payload"].get("tenant") == tenant
    ]
    assert len(claims) == 1, claims
    assert claims[0]["data"]["slot_id"] == slot_id
    return str(claims[0]["data"]["patient_id"])


async def test_an_sms_yes_to_an_offer_claims_the_slot(desk: Desk, fakes: Fakes) -> None:
    clinic = desk.clinic
    someone = person(0, channel="sms")
    await post(desk, "waitlist.joined", {"entry_id": "entry-sms", "patient": someone})
    slot = appointment(
        "s-sms", await clinic.now() + timedelta(days=1), doctor={"id": "d-7", "name": "Dr Clarke"}
    )
    del slot["appointment_id"], slot["patient"]
    await post(desk, "slot.freed", {"slot_id": "s-sms", **slot})
    await clinic.settle("slot:s-sms")
    [offer] = sms_to(fakes, someone["phone"])
    assert "Reply YES or 1" in offer

    assert (await text(desk, fakes, someone["phone"], "1")).status_code == 200
    await clinic.settle("slot:s-sms")

    assert claimed(fakes, clinic.tenant, "s-sms") == someone["id"]
    assert "It's yours" in sms_to(fakes, someone["phone"])[-1]
