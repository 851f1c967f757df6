"""End to end over real HTTP: API, dev server and workers in separate processes.

Events are posted with the official `cloudevents` SDK; the messages must appear in
`GET /v1/deliveries` at their time, each exactly once, also when a worker is killed mid-flight.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cloudevents.core.bindings.http import to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from store import Store, migrate
from tests.e2e.stack import Stack
from tests.factories import appointment, chat_message, invoice, lesson, patient

pytestmark = pytest.mark.slow
KEY = {"Authorization": "Bearer demo-key"}
# Reminders seconds apart, no quiet hours: real time stands in for days.
FAST_SETTINGS = {"reminder_offsets": ["PT20S", "PT10S"], "quiet_hours": None, "max_lateness": "PT1H"}
# The first story's: its appointments start 20 s after the posts, so its reminders are due 8 and 14 s
# after them (late is allowed, past the start a reminder would be skipped).
SOON = {**FAST_SETTINGS, "reminder_offsets": ["PT12S", "PT6S"]}


@pytest.fixture
def stack(dev_env: WorkflowEnvironment, tmp_path: Path) -> Iterator[Stack]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'nudgeflow.db'}"
    migrate(database_url)
    address = dev_env.client.service_client.config.target_host
    stack = Stack(address, database_url, f"e2e-{uuid.uuid4()}", tmp_path)
    stack.start_api()
    try:
        yield stack
    finally:
        stack.stop()


def confirmed_event(appointment_id: str, starts_at: datetime, binary: bool) -> tuple[dict[str, str], bytes]:
    event = CloudEvent(
        {
            "type": "appointment.confirmed",
            "source": "/e2e/backend",
            "subject": appointment_id,
            "tenant": "demo",
            "sequence": "1",
        },
        # A patient each: one patient's 80 reminders in a minute would meet the cadence's daily cap.
        appointment(appointment_id, starts_at, patient=patient(id=f"p-{appointment_id}")),
    )
    message = to_binary_event(event) if binary else to_structured_event(event)
    return message.headers, message.body


def as_utc(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def deliveries(client: httpx.AsyncClient, subject: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/deliveries", params={"subject": subject, "limit": 100}, headers=KEY)
    response.raise_for_status()
    return list(response.json()["deliveries"])


async def wait_for(client: httpx.AsyncClient, subjects: list[str], per_subject: int, patience: float) -> None:
    """Until each subject has `per_subject` messages sent: one request a poll for the whole store
    (this test's own), not one per subject (that was 160 requests a second beside the product)."""
    deadline = time.monotonic() + patience
    short = len(subjects)
    while time.monotonic() < deadline:
        response = await client.get("/v1/deliveries", params={"status": "sent", "limit": 1000}, headers=KEY)
        response.raise_for_status()
        rows = response.json()["deliveries"]
        assert len(rows) < 1000, "more sent messages than one page holds"
        sent = Counter(row["subject"] for row in rows)
        short = sum(1 for subject in subjects if sent[subject] < per_subject)
        if not short:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"not every message arrived in {patience} s: {short} subjects short")


async def post_all(client: httpx.AsyncClient, ids: list[str], starts_at: datetime) -> float:
    """Post one confirmed event per id, 8 at a time; the events per second achieved."""
    limit = asyncio.Semaphore(8)

    async def post(index: int, appointment_id: str) -> None:
        headers, body = confirmed_event(appointment_id, starts_at, binary=index % 2 == 1)
        async with limit:
            response = await client.post("/v1/events", headers={**headers, **KEY}, content=body)
        assert response.status_code == 202, response.text

    began = time.perf_counter()
    await asyncio.gather(*(post(i, a) for i, a in enumerate(ids)))
    return len(ids) / (time.perf_counter() - began)


@pytest.mark.lasts(20)
@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "sandbox-off"])
async def test_events_posted_over_http_become_messages_at_their_time(stack: Stack, sandboxed: bool) -> None:
    stack.start_worker(sandboxed=sandboxed)
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        assert (await client.put("/v1/settings", json=SOON, headers=KEY)).status_code == 200
        # Unique per run: the dev server outlives a test, and its lifecycles with it.
        run = uuid.uuid4().hex[:6]
        ids = [f"e2e-{run}-{i}" for i in range(40)]
        starts_at = datetime.now(UTC) + timedelta(seconds=20)
        rate = await post_all(client, ids, starts_at)
        print(f"\nposted {len(ids)} events over HTTP at {rate:.0f} events/s")
        await wait_for(client, [f"appointment:{a}" for a in ids], per_subject=3, patience=90)
        lateness = []
        for appointment_id in ids:
            rows = await deliveries(client, f"appointment:{appointment_id}")
            assert sorted(r["step"] for r in rows) == ["confirmed", "reminder-12s-v0", "reminder-6s-v0"]
            for row in rows:
                assert row["status"] == "sent" and row["provider"] == "outbox" and row["body"]
                if row["step"].startswith("reminder"):
                    sent_at = datetime.fromisoformat(row["sent_at"])
                    planned = datetime.fromisoformat(row["scheduled_for"])
                    assert sent_at >= planned, "a reminder must never go out early"
                    lateness.append((sent_at - planned).total_seconds())
        lateness.sort()
        print(f"reminder lateness p50 {lateness[len(lateness) // 2]:.3f} s, max {lateness[-1]:.3f} s")
        detailed = await client.get(
            "/v1/deliveries", params={"subject": f"appointment:{ids[0]}", "attempts": "true"}, headers=KEY
        )
        assert [[a["status"] for a in row["attempts"]] for row in detailed.json()["deliveries"]] == [
            ["sent"]
        ] * 3
        timeline = await client.get(f"/v1/timeline/appointment/{ids[0]}", headers=KEY)
        assert timeline.status_code == 200
        assert timeline.json()["status"] == "confirmed" and len(timeline.json()["deliveries"]) == 3


@pytest.mark.lasts(30)
async def test_worker_killed_mid_flight_loses_and_duplicates_nothing(stack: Stack, tmp_path: Path) -> None:
    first = stack.start_worker()
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        # Reminders 24 s and 12 s before a start 36 s away: the first comes due while no worker runs.
        settings = {**FAST_SETTINGS, "reminder_offsets": ["PT24S", "PT12S"]}
        assert (await client.put("/v1/settings", json=settings, headers=KEY)).status_code == 200
        ids = [f"crash-{i}" for i in range(20)]
        starts_at = datetime.now(UTC) + timedelta(seconds=36)
        await post_all(client, ids, starts_at)
        await asyncio.sleep(7)
        stack.kill_worker(first)
        await asyncio.sleep(7)
        stack.start_worker()
        await wait_for(client, [f"appointment:{a}" for a in ids], per_subject=3, patience=120)
    store = Store(stack.env["DATABASE_URL"])
    try:
        async with store.engine.connect() as connection:
            per_step = (
                await connection.execute(
                    text(
                        "SELECT d.step, count(*) FROM deliveries d "
                        "JOIN delivery_attempts a ON a.delivery_id = d.id "
                        "WHERE a.status = 'sent' GROUP BY d.id, d.step"
                    )
                )
            ).all()
            late = (
                await connection.execute(
                    text("SELECT sent_at, scheduled_for FROM deliveries WHERE step = 'reminder-24s-v0'")
                )
            ).all()
    finally:
        await store.close()
    lateness = sorted((as_utc(sent) - as_utc(planned)).total_seconds() for sent, planned in late)
    print(
        f"\nreminders due while the worker was down: lateness p50 {lateness[len(lateness) // 2]:.1f} s, "
        f"max {lateness[-1]:.1f} s"
    )
    assert len(per_step) == 3 * len(ids), "every due message was delivered"
    assert {count for _, count in per_step} == {1}, "no message was delivered twice"


async def post_event(client: httpx.AsyncClient, type: str, data: dict[str, Any], subject: str) -> None:
    event = CloudEvent({"type": type, "source": "/e2e/school", "subject": subject, "tenant": "demo"}, data)
    message = to_structured_event(event)
    response = await client.post("/v1/events", headers={**message.headers, **KEY}, content=message.body)
    assert response.status_code == 202, response.text


@pytest.mark.lasts(25)
async def test_lessons_payments_and_chats_run_end_to_end_over_http(stack: Stack) -> None:
    stack.start_worker()
    settings = {
        **FAST_SETTINGS,
        "payment_nudge_offsets": ["PT0S", "PT6S", "PT18S"],
        "payment_escalation_delay": "PT2S",
        "chat_push_delay": "PT2S",
        "chat_sms_delay": "PT8S",
    }
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        assert (await client.put("/v1/settings", json=settings, headers=KEY)).status_code == 200
        now = datetime.now(UTC)
        await post_event(
            client, "lesson.scheduled", lesson("x-lesson", now + timedelta(seconds=16)), "x-lesson"
        )
        await post_event(
            client, "invoice.issued", invoice("x-invoice", now + timedelta(seconds=2)), "x-invoice"
        )
        await post_event(client, "chat.message_sent", chat_message("x-chat", "m-1"), "x-chat")
        await wait_for(client, ["invoice:x-invoice", "chat:x-chat"], per_subject=2, patience=60)
        invoice_rows = await deliveries(client, "invoice:x-invoice")
        assert [r["step"] for r in invoice_rows if r["status"] == "sent"] == ["nudge-2-s1", "nudge-1-s1"]
        await post_event(
            client, "invoice.paid", invoice("x-invoice", now + timedelta(seconds=2)), "x-invoice"
        )
        chat_rows = await deliveries(client, "chat:x-chat")
        assert sorted(r["channel"] for r in chat_rows) == ["push", "sms"]
        lesson_rows = await deliveries(client, "lesson:x-lesson")
        assert {(r["step"], r["status"]) for r in lesson_rows} == {
            ("reminder-20s-v0/student", "skipped"),
            ("reminder-20s-v0/guardian", "skipped"),
            ("reminder-10s-v0/student", "sent"),
            ("reminder-10s-v0/guardian", "sent"),
        }
        # the third nudge was due at +20 s: past it and a moment more, none went
        await asyncio.sleep(max(0.0, (now + timedelta(seconds=23) - datetime.now(UTC)).total_seconds()))
        assert len(await deliveries(client, "invoice:x-invoice")) == 2, "no nudge after the payment"
        for kind, name in (("lesson", "x-lesson"), ("invoice", "x-invoice"), ("chat", "x-chat")):
            timeline = await client.get(f"/v1/timeline/{kind}/{name}", headers=KEY)
            assert timeline.status_code == 200, timeline.text
            assert timeline.json()["deliveries"], kind
        assert (await client.get("/v1/timeline/invoice/x-invoice", headers=KEY)).json()["status"] == "paid"
