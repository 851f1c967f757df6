"""A worker told to stop (SIGTERM) finishes the send it is in the middle of before it exits."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from store import migrate
from tests.e2e.stack import Stack
from tests.factories import appointment
from tests.fakes.smsaero import FakeSmsAero

pytestmark = pytest.mark.slow
KEY = {"Authorization": "Bearer demo-key"}
PHONE = "79161234567"  # the factory's patient, as SMS Aero writes it
SLOW_ANSWER_S = 4.0  # the provider takes the message, then answers this late


@pytest.fixture
def smsaero() -> Iterator[FakeSmsAero]:
    fake = FakeSmsAero(hang_seconds=SLOW_ANSWER_S)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def stack(dev_env: WorkflowEnvironment, tmp_path: Path, smsaero: FakeSmsAero) -> Iterator[Stack]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'nudgeflow.db'}"
    migrate(database_url)
    address = dev_env.client.service_client.config.target_host
    stack = Stack(address, database_url, f"drain-{uuid.uuid4()}", tmp_path)
    stack.env |= {
        "NUDGEFLOW_SMSAERO_BASE_URL": smsaero.url,
        "NUDGEFLOW_SMSAERO_EMAIL": "ops@clinic.example",
        "NUDGEFLOW_SMSAERO_API_KEY": "k" * 32,
    }
    stack.start_api()
    try:
        yield stack
    finally:
        stack.stop()


async def until(check: Callable[[], object], patience: float, what: str) -> None:
    deadline = time.monotonic() + patience
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


@pytest.mark.lasts(10)
async def test_a_worker_stopped_mid_send_finishes_it_and_records_it_before_it_exits(
    stack: Stack, smsaero: FakeSmsAero
) -> None:
    smsaero.plan(PHONE, "accept_hang")  # it has the message at once, answers SLOW_ANSWER_S later
    worker = stack.start_worker(sandboxed=False)
    appointment_id = f"drain-{uuid.uuid4().hex[:8]}"
    event = {
        "specversion": "1.0",
        "id": f"{appointment_id}-confirmed",
        "source": "/e2e/backend",
        "type": "appointment.confirmed",
        "tenant": "demo",
        "data": appointment(appointment_id, datetime.now(UTC) + timedelta(days=2)),
    }
    async with httpx.AsyncClient(base_url=stack.url, headers=KEY) as client:
        no_quiet_hours = await client.put("/v1/settings", json={"quiet_hours": None})  # at any hour
        assert no_quiet_hours.status_code == 200, no_quiet_hours.text
        headers = {"Content-Type": "application/cloudevents+json"}
        assert (await client.post("/v1/events", json=event, headers=headers)).status_code == 202

        await until(lambda: smsaero.requests, 60, "the confirmation never reached the provider")
        worker.send_signal(signal.SIGTERM)  # mid-send: the provider is still answering
        began = time.monotonic()
        await until(lambda: worker.poll() is not None, 30, "the worker did not exit")
        assert worker.returncode == 0
        assert time.monotonic() - began >= SLOW_ANSWER_S - 1, "the worker left before its send ended"

        deliveries = (
            await client.get("/v1/deliveries", params={"subject": f"appointment:{appointment_id}"})
        ).json()
    assert [d["status"] for d in deliveries["deliveries"]] == ["sent"], deliveries
    assert len(smsaero.messages) == 1, "sent once, and only once"
