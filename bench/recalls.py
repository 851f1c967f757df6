"""Recalls: N open recalls waiting months for their due date, against the dev server.

Measures the worker's resident memory idle and with N recalls open (each started by `recall.set`,
due in six months: one durable timer each), the server's history per waiting recall (events,
bytes) and the dev server database's growth per 1,000 open recalls. A recall's whole cycle (invited,
held by a booking, re-armed by the visit, dismissed) is read from the replay fixture, recorded by
the same code on the time-skipping server.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.api.history.v1 import History

from bench.report import Report
from bench.stack import Stack, rss_mib
from config import Settings
from domain.events import DomainEvent
from workflows.routes import route, signal_with_start

FIXTURE = Path(__file__).parent.parent / "tests/replay/histories/v3-send-tasks/recall.json"
SAMPLE = 50


def recall_set(i: int, due_at: datetime) -> DomainEvent:
    data = {
        "patient": {
            "id": f"p-{i}",
            "name": "Anna",
            "locale": "ru-RU",
            "timezone": "Europe/Moscow",
            "phone": f"+7999{i:07d}",
        },
        "recall_type": "hygiene",
        "due_at": due_at.isoformat(),
    }
    return DomainEvent(
        id=f"recall-{i}",
        source="bench",
        type="recall.set",
        tenant="demo",
        received_at=datetime.now(UTC),
        data=data,
    )


async def open_recalls(stack: Stack, count: int, due_at: datetime) -> float:
    """Start `count` recalls (16 at a time); the seconds it took until the last ones are asleep."""
    began = time.monotonic()
    ids = iter(range(count))

    async def starter() -> None:
        for i in ids:
            event = recall_set(i, due_at)
            target = route("demo", event.type, event.parsed())
            assert target is not None
            await signal_with_start(stack.client, stack.task_queue, target, [event])

    await asyncio.gather(*(starter() for _ in range(16)))
    await asleep(stack, [f"recall:demo:p-{i}:hygiene" for i in range(max(0, count - 20), count)])
    return time.monotonic() - began


async def asleep(stack: Stack, workflow_ids: list[str]) -> None:
    """Until each has planned and started its timer to the due date."""
    deadline = time.monotonic() + 600
    for workflow_id in workflow_ids:
        while time.monotonic() < deadline:
            history = await stack.client.get_workflow_handle(workflow_id).fetch_history()
            if any(event.HasField("timer_started_event_attributes") for event in history.events):
                break
            await asyncio.sleep(0.5)
    await asyncio.sleep(2)


async def history_sizes(stack: Stack, workflow_ids: list[str]) -> list[tuple[int, int]]:
    sizes = []
    for workflow_id in workflow_ids:
        history = await stack.client.get_workflow_handle(workflow_id).fetch_history()
        sizes.append((len(history.events), History(events=history.events).ByteSize()))
    return sizes


def fixture_size() -> tuple[int, int]:
    """Events and bytes of the recorded full cycle (tests/replay/histories)."""
    from google.protobuf.json_format import ParseDict

    history = ParseDict(json.loads(FIXTURE.read_text()), History(), ignore_unknown_fields=True)
    return len(history.events), history.ByteSize()


async def run(open_count: int = 10_000, tuning: dict[str, Any] | None = None) -> Report:
    report = Report("recalls", {"open": open_count, "tuning": tuning or {}})
    cache = (tuning or {}).get("max_cached_workflows", Settings().max_cached_workflows)
    async with Stack(tuning=tuning, settings={"booking_url": "https://clinic.example/book"}) as stack:
        worker = stack.start_worker()
        await stack.wait_polling(worker)
        await asyncio.sleep(2)
        idle = rss_mib(worker.pid)
        db_before = stack.temporal_db_bytes()
        due_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=183)
        seconds = await open_recalls(stack, open_count, due_at)
        busy = rss_mib(worker.pid)
        db_after = stack.temporal_db_bytes()
        cpu = stack.cpu()
        running = (await stack.client.count_workflows('WorkflowType = "RecallWorkflow"')).count
        step = max(1, open_count // SAMPLE)
        sample = [f"recall:demo:p-{i}:hygiene" for i in range(0, open_count, step)][:SAMPLE]
        sizes = await history_sizes(stack, sample)
    events = sorted(n for n, _ in sizes)
    sizes_bytes = sorted(b for _, b in sizes)
    cycle_events, cycle_bytes = fixture_size()
    report.add(
        "Worker resident memory",
        ["state", "RSS MiB", "per recall KiB"],
        [
            ["idle, polling", round(idle, 1), None],
            [
                f"{open_count} recalls open, due in 6 months (cache {cache})",
                round(busy, 1),
                round((busy - idle) * 1024 / max(open_count, 1), 2),
            ],
        ],
    )
    report.add(
        "Server history per recall",
        ["recall", "events", "bytes"],
        [
            [
                f"waiting for its due date (median of {len(sizes)})",
                events[len(events) // 2],
                sizes_bytes[len(sizes_bytes) // 2],
            ],
            ["whole cycle: invited, held, re-armed, dismissed (fixture)", cycle_events, cycle_bytes],
        ],
    )
    growth = db_after - db_before
    report.add(
        "Dev server database (SQLite file + WAL)",
        ["open recalls", "seconds to open", "growth MiB", "KiB per recall"],
        [[running, round(seconds, 1), round(growth / 2**20, 2), round(growth / 1024 / max(running, 1), 2)]],
    )
    report.note("a waiting recall is one timer on the server; the worker caches at most max_cached_workflows")
    report.data = {
        "open": open_count,
        "running": running,
        "idle_mib": round(idle, 1),
        "open_mib": round(busy, 1),
        "events_waiting": events[len(events) // 2],
        "bytes_waiting": sizes_bytes[len(sizes_bytes) // 2],
        "events_cycle": cycle_events,
        "bytes_cycle": cycle_bytes,
        "db_kib_per_recall": round(growth / 1024 / max(running, 1), 2),
        "seconds_to_open": round(seconds, 1),
        "cpu_seconds": {name: round(value, 1) for name, value in cpu.items()},
    }
    return report
