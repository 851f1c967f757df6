"""Footprint: worker resident memory idle and with N open appointment lifecycles; dev server database
size per 1,000 finished lifecycles (confirmed, reminded, cancelled: three messages, two events each)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.appointments import at, cancelled, confirmed, post_batches, recorded
from bench.reminders import start_waiting
from bench.report import Report
from bench.stack import Stack, rss_mib, until
from config import Settings
from domain.settings import TenantSettings


async def settle(stack: Stack, workflow_ids: list[str]) -> None:
    """Until the last started lifecycles have had their first workflow task: all are then asleep."""
    deadline = time.monotonic() + 300
    for workflow_id in workflow_ids:
        while time.monotonic() < deadline:
            description = await stack.client.get_workflow_handle(workflow_id).describe()
            if (description.history_length or 0) > 3:
                break
            await asyncio.sleep(0.5)
    await asyncio.sleep(2)


async def open_lifecycles(stack: Stack, count: int) -> None:
    settings = TenantSettings.model_validate(stack.settings)
    starts_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    ids = iter(range(count))

    async def starter() -> None:
        for i in ids:
            await start_waiting(stack, confirmed(f"open-{i}", starts_at), settings)

    await asyncio.gather(*(starter() for _ in range(16)))
    await settle(stack, [f"appointment:demo:open-{i}" for i in range(max(0, count - 20), count)])


async def finished_lifecycles(stack: Stack, count: int, setup_rate: float, lead: float) -> float:
    """Run `count` lifecycles to their end; the seconds it took."""
    began = time.time()
    # Reminders are 10 s before the start: the start lies beyond setting up all the confirmations.
    starts = began + lead + count / setup_rate
    await post_batches(stack.api_url, [confirmed(f"done-{i}", at(starts)) for i in range(count)])

    async def reminded() -> bool:
        return await recorded(stack.store, "reminder") >= count

    await until(reminded, starts + 120)
    await post_batches(stack.api_url, [cancelled(f"done-{i}") for i in range(count)])
    query = 'WorkflowId STARTS_WITH "appointment:demo:done-" AND ExecutionStatus = "Completed"'

    async def ended() -> bool:
        return (await stack.client.count_workflows(query)).count >= count

    await until(ended, starts + 300, every=1)
    return time.time() - began


async def run(
    open_count: int = 2000, finished: int = 200, lead: float = 20.0, tuning: dict[str, Any] | None = None
) -> Report:
    params = {"open": open_count, "finished": finished, "tuning": tuning or {}}
    report = Report("footprint", params)
    # The bench worker starts from the product's defaults (bench/worker_process.py).
    cache = (tuning or {}).get("max_cached_workflows", Settings().max_cached_workflows)
    settings = {"reminder_offsets": ["PT10S"], "max_lateness": "PT1H"}
    async with Stack(tuning=tuning, settings=settings) as stack:
        await stack.start_api()
        worker = stack.start_worker()
        await stack.wait_polling(worker)
        await asyncio.sleep(2)
        idle = rss_mib(worker.pid)
        await open_lifecycles(stack, open_count)
        busy = rss_mib(worker.pid)
        db_before = stack.temporal_db_bytes()
        seconds = await finished_lifecycles(stack, finished, setup_rate=15, lead=lead)
        db_after = stack.temporal_db_bytes()
        completed = (await stack.client.count_workflows('ExecutionStatus = "Completed"')).count
    report.add(
        "Worker resident memory",
        ["state", "RSS MiB", "per lifecycle KiB"],
        [
            ["idle, polling", round(idle, 1), None],
            [
                f"{open_count} open lifecycles (cache {cache})",
                round(busy, 1),
                round((busy - idle) * 1024 / open_count, 1),
            ],
        ],
    )
    report.data = {"idle_mib": round(idle, 1), "open_mib": round(busy, 1), "open": open_count}
    per_thousand = (db_after - db_before) / max(completed, 1) * 1000 / 2**20
    report.add(
        "Dev server database (SQLite file + WAL)",
        ["finished lifecycles", "seconds", "growth MiB", "MiB per 1,000"],
        [[completed, round(seconds, 1), round((db_after - db_before) / 2**20, 2), round(per_thousand, 2)]],
    )
    report.note(
        "the worker caches at most max_cached_workflows lifecycles; the others live only on the server"
    )
    return report
