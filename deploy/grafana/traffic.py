"""The run the dashboard is drawn from: bookings in a trickle and a morning burst, their reminders due
within minutes, a backend that retries and now and then sends a bad event, and fake providers
(tests/fakes) that refuse, fail, hang on or lose some of the messages.

Seconds from the first booking: 0-35 two bookings a second; at 35 a burst of 180 from 8 clients;
45-135 one a second. Every appointment starts 170-220 s after the first booking, with reminders 120 s
and 30 s before it, so the two reminder waves fall at ~50-100 s and ~140-190 s (those already due when
an appointment is booked are skipped as stale). SMS Aero is down for everyone from 60 to 80 s; a
few reschedules, cancellations, re-posts and malformed events come in between 60 and 130 s.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx

from bench.appointments import STRUCTURED, cancelled, rescheduled
from tests.e2e.faults import Patient, Providers, confirmed, staff_settings

STAFF_CHAT = "5550001"
SETTINGS = staff_settings(STAFF_CHAT, reminder_offsets=["PT120S", "PT30S"])
TRICKLE_S, BURST_AT, BURST, LATE_FROM, LATE_TO = 35, 35, 180, 45, 135
STARTS_FROM, STARTS_SPREAD = 170, 50
OUTAGE = (60, 80)
END_S = 225  # the last reminders are due by ~220 s
# A provider that takes a message and answers only after this: longer than the channel timeout (10 s).
HANG_S = 12.0
# The first answer some recipients get, by provider, every n-th recipient of that provider (offset, n).
ERRORS = {
    "telegram": [("blocked", 5, 11), ("bad_gateway", 7, 13), ("accept_hang", 3, 29)],
    "smsaero": [("unavailable", 5, 11), ("bad_number", 8, 31)],
    "twilio": [("server_error", 5, 11), ("invalid_number", 8, 31)],
}


class Traffic:
    """Posts the run's events on schedule and counts what the API answered."""

    def __init__(self, api_url: str, providers: Providers) -> None:
        self.api_url = api_url
        self.providers = providers
        self.rng = random.Random(16)
        self.t0 = 0.0
        self.booked: list[dict[str, Any]] = []
        self.answers: Counter[int] = Counter()
        self.sent: Counter[str] = Counter()  # what was posted, by kind
        self.http: httpx.AsyncClient

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
        async with httpx.AsyncClient(base_url=self.api_url, timeout=60, limits=limits) as self.http:
            self.t0 = time.time()
            plan: list[tuple[float, Callable[[], Awaitable[None]]]] = []
            plan += [(i / 2, self.book) for i in range(TRICKLE_S * 2)]
            plan.append((BURST_AT, self.burst))
            plan += [(float(s), self.book) for s in range(LATE_FROM, LATE_TO)]
            plan += [(OUTAGE[0], self.outage_begins), (OUTAGE[1], self.outage_ends)]
            plan += [(60 + i, self.repost) for i in range(10)]
            plan += [(90 + 10 * i, partial(self.malformed, i)) for i in range(3)]
            plan += [(100 + 2 * i, partial(self.reschedule, i)) for i in range(12)]
            plan += [(105 + 2 * i, partial(self.cancel, i)) for i in range(10)]
            await asyncio.gather(*(self._at(delay, step) for delay, step in plan))
            await asyncio.sleep(max(0.0, self.t0 + END_S - time.time()))

    async def _at(self, delay: float, step: Callable[[], Awaitable[None]]) -> None:
        await asyncio.sleep(max(0.0, self.t0 + delay - time.time()))
        await step()

    async def post(self, kind: str, event: dict[str, Any]) -> None:
        response = await self.http.post("/v1/events", headers=STRUCTURED, content=json.dumps(event))
        self.answers[response.status_code] += 1
        self.sent[kind] += 1

    async def book(self) -> None:
        index = len(self.booked)
        patient = Patient.new("dash", index, ("twilio", "smsaero", "telegram")[index % 3])
        self._script(patient, index // 3)
        starts_at = self.t0 + STARTS_FROM + self.rng.uniform(0, STARTS_SPREAD)
        event = confirmed(patient, f"dash-{index}", datetime.fromtimestamp(starts_at, UTC))
        self.booked.append(event)
        await self.post("confirmed", event)

    def _script(self, patient: Patient, nth: int) -> None:
        for answer, offset, every in ERRORS[patient.provider]:
            if nth % every == offset:
                if patient.provider == "telegram":
                    assert patient.chat_id is not None
                    self.providers.telegram.plan(patient.chat_id, answer)
                elif patient.provider == "smsaero":
                    self.providers.smsaero.plan(patient.phone[1:], answer)
                else:
                    self.providers.twilio.plan(patient.phone, answer)
                return

    async def burst(self) -> None:
        gate = asyncio.Semaphore(8)

        async def one() -> None:
            async with gate:
                await self.book()

        await asyncio.gather(*(one() for _ in range(BURST)))

    async def outage_begins(self) -> None:
        self.providers.smsaero.outage("unavailable")

    async def outage_ends(self) -> None:
        self.providers.smsaero.outage(None)

    async def repost(self) -> None:
        """A backend that timed out posts the same event (same id) again."""
        await self.post("re-posted", self.rng.choice(self.booked))

    async def malformed(self, nth: int) -> None:
        event = dict(self.booked[-1], id=f"bad-{nth}")
        event["data"] = {key: value for key, value in event["data"].items() if key != "starts_at"}
        await self.post("malformed", event)

    def _early(self, nth: int) -> dict[str, Any]:
        """The nth of the trickle's bookings picked for a change (a different one for each)."""
        return self.booked[nth * 3 % (TRICKLE_S * 2)]

    async def reschedule(self, nth: int) -> None:
        event = self._early(nth)
        moved = datetime.fromisoformat(event["data"]["starts_at"]) + timedelta(seconds=30)
        await self.post("rescheduled", rescheduled(event["subject"], moved))

    async def cancel(self, nth: int) -> None:
        event = self._early(nth + 12)
        await self.post("cancelled", cancelled(event["subject"]))

    def summary(self) -> str:
        posted = ", ".join(f"{n} {kind}" for kind, n in self.sent.items())
        answered = ", ".join(f"{n}× {status}" for status, n in sorted(self.answers.items()))
        fakes = [
            ("Telegram", self.providers.telegram),
            ("SMS Aero", self.providers.smsaero),
            ("Twilio", self.providers.twilio),
        ]
        taken = "; ".join(f"{name} {_answers(fake.requests)}" for name, fake in fakes)
        return f"Events posted: {posted} (the API answered {answered}). Fake providers answered: {taken}."


def _answers(requests: list[dict[str, Any]]) -> str:
    counted = Counter(str(r.get("answer", "?")) for r in requests)
    return ", ".join(f"{n} {answer}" for answer, n in counted.most_common())
