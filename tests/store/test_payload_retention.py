"""An accepted event's payload (names, phones) is kept only until it is delivered, plus a retention."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import ROOT, Settings
from store import EventStatus, Store
from store.records import InboundEventKey
from store.tables import InboundEventRow, utcnow
from tests.store.backends import database_url


def event(event_id: str) -> InboundEventKey:
    return InboundEventKey(
        source="crm",
        event_id=event_id,
        type="appointment.confirmed",
        subject="a-1",
        workflow_id="appointment:demo:a-1",
        payload={"data": {"patient": {"name": "Анна", "phone": "+79990000001"}}},
    )


async def test_settled_payloads_are_purged_and_pending_ones_kept(store: Store) -> None:
    await store.claim_events("demo", [event("e-1"), event("e-2")])
    await store.mark_events("demo", [("crm", "e-1")], EventStatus.ROUTED)

    assert await store.purge_event_payloads(utcnow() - timedelta(days=1)) == 0  # not old enough yet
    assert await store.purge_event_payloads(utcnow() + timedelta(seconds=1)) == 1

    [pending] = await store.pending_events(utcnow() + timedelta(seconds=1))
    assert pending.event_id == "e-2" and pending.payload is not None  # undelivered: kept
    # The purged row still dedupes a redelivery of the same id.
    assert (await store.claim_events("demo", [event("e-1")]))[("crm", "e-1")] == EventStatus.ROUTED


def test_the_purge_command(tmp_path: Path) -> None:
    url = database_url("sqlite", tmp_path)
    done = subprocess.run(
        [sys.executable, "cli.py", "purge-payloads", "--days", "30"],
        cwd=ROOT,
        env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "0 event payloads older than 30 days forgotten" in done.stdout


async def test_the_api_forgets_delivered_payloads_by_itself(
    store: Store, dev_env: WorkflowEnvironment
) -> None:
    await store.claim_events("demo", [event("e-3")])
    await store.mark_events("demo", [("crm", "e-3")], EventStatus.ROUTED)
    # A retention of a second: the API's first round, at start, finds it past.
    settings = Settings(database_url="sqlite://", payload_retention_days=1 / 86400)
    await asyncio.sleep(1.1)
    app = create_app(settings, store=store, temporal=dev_env.client)
    async with app.router.lifespan_context(app):
        for _ in range(50):
            if not await _has_payload(store, "e-3"):
                break
            await asyncio.sleep(0.1)
    assert not await _has_payload(store, "e-3")


async def _has_payload(store: Store, event_id: str) -> bool:
    async with store.engine.connect() as connection:
        payload = (
            await connection.execute(
                select(InboundEventRow.payload).where(InboundEventRow.event_id == event_id)
            )
        ).scalar()
    return payload is not None
