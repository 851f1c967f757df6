"""The worker's Prometheus endpoints, scraped from a real worker process after a real send."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from store import migrate
from tests.e2e.stack import Stack
from tests.factories import appointment
from tests.ports import free_port

pytestmark = pytest.mark.slow
KEY = {"Authorization": "Bearer demo-key"}


@pytest.fixture
def stack(dev_env: WorkflowEnvironment, tmp_path: Path) -> Iterator[Stack]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'nudgeflow.db'}"
    migrate(database_url)
    address = dev_env.client.service_client.config.target_host
    stack = Stack(address, database_url, f"metrics-{uuid.uuid4()}", tmp_path)
    stack.start_api()
    try:
        yield stack
    finally:
        stack.stop()


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


async def scrape(url: str, patience: float = 30.0) -> str:
    deadline = time.monotonic() + patience
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            try:
                response = await client.get(url)
                if response.status_code == 200:
                    return response.text
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.2)


async def test_worker_metrics_count_a_sent_confirmation_and_show_the_sdk_own(stack: Stack) -> None:
    ours, sdk = free_port(), free_port()
    stack.start_worker(
        sandboxed=False,
        env={"NUDGEFLOW_WORKER_METRICS_PORT": str(ours), "NUDGEFLOW_TEMPORAL_METRICS_PORT": str(sdk)},
    )
    appointment_id = f"metrics-{uuid.uuid4().hex[:6]}"
    starts_at = datetime.now(UTC) + timedelta(days=3)
    event = {
        "specversion": "1.0",
        "id": f"evt-{appointment_id}",
        "source": "/e2e/metrics",
        "type": "appointment.confirmed",
        "subject": appointment_id,
        "tenant": "demo",
        "data": appointment(appointment_id, starts_at),
    }
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        # No quiet hours: the confirmation goes now, whatever the hour is in Moscow when this runs.
        quiet = await client.put("/v1/settings", json={"quiet_hours": None}, headers=KEY)
        assert quiet.status_code == 200, quiet.text
        response = await client.post(
            "/v1/events", json=event, headers={**KEY, "Content-Type": "application/cloudevents+json"}
        )
        assert response.status_code == 202, response.text
        deadline = time.monotonic() + 60
        while True:
            rows = (
                await client.get(
                    "/v1/deliveries", params={"subject": f"appointment:{appointment_id}"}, headers=KEY
                )
            ).json()["deliveries"]
            sent = [row for row in rows if row["status"] == "sent"]
            if sent:
                break
            assert time.monotonic() < deadline, f"the confirmation was not sent: {rows}"
            await asyncio.sleep(0.3)
    row = sent[0]

    found = samples(await scrape(f"http://127.0.0.1:{ours}/metrics"))
    delivered = [
        value
        for name, labels, value in found
        if name == "nudgeflow_deliveries_total"
        and labels
        == {"tenant": "demo", "channel": row["channel"], "provider": row["provider"], "status": "sent"}
    ]
    assert delivered and delivered[0] >= 1, "the sent confirmation is counted by tenant, channel, provider"
    calls = [
        value
        for name, labels, value in found
        if name == "nudgeflow_provider_call_seconds_count"
        and labels == {"channel": row["channel"], "provider": row["provider"], "result": "ok"}
    ]
    assert calls and calls[0] >= 1, "the provider call is timed"
    lateness = [value for name, labels, value in found if name == "nudgeflow_reminder_lateness_seconds_count"]
    assert sum(lateness) >= 1, "how late it went out is observed"

    sdk_names = {name for name, _, _ in samples(await scrape(f"http://127.0.0.1:{sdk}/metrics"))}
    assert any(name.startswith("temporal_worker_task_slots_available") for name in sdk_names), sorted(
        sdk_names
    )
    assert any(name.startswith("temporal_workflow_task_schedule_to_start_latency") for name in sdk_names)
