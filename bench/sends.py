"""The send path alone: one reminder after another through `send_message`, the store's work counted.

No Temporal server and no provider: the activity runs in Temporal's ActivityEnvironment and sends to
the outbox, so what is measured is what a send costs the worker besides the SDK: its reads, its writes,
the render. Per send: the worker's CPU, the wall time, the SQL statements and the write transactions
(commits). `BENCH_DATABASE=postgres` runs it on a fresh PostgreSQL database, else on SQLite (BENCH_TMP).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event
from temporalio.testing import ActivityEnvironment

from activities.models import SendMessageInput
from activities.send import NudgeActivities
from bench.report import Report
from bench.stack import POSTGRES_SERVER, _postgres
from domain.contacts import Contact
from domain.events import Appointment
from domain.planning import PlannedMessage
from i18n import TemplateRenderer
from store import Store, migrate

WARM_UP = 30


@dataclass
class Counts:
    statements: int = 0
    commits: int = 0


def reminder(i: int, now: datetime) -> SendMessageInput:
    """A reminder of tomorrow's visit, due now, to a patient reached by SMS."""
    patient = Contact(
        id=f"p-{i}", name="Анна Петрова", locale="ru-RU", timezone="Europe/Moscow", phone="+79161234567"
    )
    appointment = Appointment.model_validate(
        {
            "appointment_id": f"a-{i}",
            "patient": patient.model_dump(mode="json"),
            "starts_at": (now + timedelta(days=1)).isoformat(),
            "duration_minutes": 30,
            "service": {"code": "CHK", "name": "Осмотр стоматолога"},
            "doctor": {"id": "d-7", "name": "Иван Смирнов"},
            "location": {"id": "loc-1", "name": "Клиника на Арбате", "timezone": "Europe/Moscow"},
        }
    )
    message = PlannedMessage(
        step="reminder-24h-v0", template="visit_reminder", audience="patient", recipient=patient, send_at=now
    )
    return SendMessageInput(
        tenant="demo",
        workflow_id=f"appointment:demo:a-{i}/{uuid.uuid4().hex[:8]}",
        subject=f"a-{i}",
        message=message,
        appointment=appointment,
    )


async def _sends(store: Store, count: int) -> dict[str, Any]:
    activities = NudgeActivities(store, TemplateRenderer())
    counts = Counts()

    def statement(*_: Any) -> None:
        counts.statements += 1

    def commit(*_: Any) -> None:
        counts.commits += 1

    event.listen(store.engine.sync_engine, "before_cursor_execute", statement)
    event.listen(store.engine.sync_engine, "commit", commit)
    environment = ActivityEnvironment()

    async def send(i: int) -> str:
        # Each attempt as Temporal starts it: now, with a minute to run.
        now = datetime.now(UTC)
        environment.info = replace(
            environment.info,
            started_time=now,
            current_attempt_scheduled_time=now,
            start_to_close_timeout=timedelta(minutes=1),
        )
        result = await environment.run(activities.send_message, reminder(i, now))
        return result.status

    for i in range(WARM_UP):
        await send(-1 - i)
    counts.statements = counts.commits = 0
    statuses: dict[str, int] = {}
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(count):
        status = await send(i)
        statuses[status] = statuses.get(status, 0) + 1
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "statuses": statuses,
        "cpu_ms": round(cpu / count * 1000, 2),
        "wall_ms": round(wall / count * 1000, 2),
        "statements": round(counts.statements / count, 2),
        "commits": round(counts.commits / count, 2),
    }


async def run(count: int = 500) -> Report:
    postgres = os.environ.get("BENCH_DATABASE") == "postgres"
    report = Report("sends" + ("_postgres" if postgres else ""), {"count": count, "warm_up": WARM_UP})
    database = f"nudgeflow_bench_{uuid.uuid4().hex[:8]}"
    directory = tempfile.mkdtemp(prefix="nudgeflow-bench-", dir=os.environ.get("BENCH_TMP"))
    if postgres:
        await asyncio.to_thread(_postgres, f"CREATE DATABASE {database}")
        url = f"{POSTGRES_SERVER}/{database}"
    else:
        url = f"sqlite+aiosqlite:///{directory}/nudgeflow.db"
    try:
        await asyncio.to_thread(migrate, url)
        store = Store(url)
        try:
            await store.ensure_tenant("demo", "Demo clinic", "demo-key")
            found = await _sends(store, count)
        finally:
            await store.close()
    finally:
        if postgres:
            await asyncio.to_thread(_postgres, f"DROP DATABASE IF EXISTS {database}")
    store_name = "postgres" if postgres else "sqlite"
    report.add(
        f"One reminder after another through send_message on {store_name} ({count}, outbox channel)",
        ["CPU ms/send", "wall ms/send", "SQL statements/send", "commits/send"],
        [[found["cpu_ms"], found["wall_ms"], found["statements"], found["commits"]]],
    )
    report.note(f"outcomes: {found['statuses']}")
    report.data = found
    return report
