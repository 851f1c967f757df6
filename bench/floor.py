"""The bare Temporal floor: a no-op workflow for ingest, a sleep-then-one-activity workflow for reminders,
and for end to end a workflow started by its signal that runs one activity writing one row to the store.

`python -m bench.floor` runs their worker as its own process, as the product's worker runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import uvloop
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


@workflow.defn(name="FloorNoop")
class FloorNoop:
    """Takes the signal it was started with and ends: what signal-with-start costs with nothing to do."""

    def __init__(self) -> None:
        self.events = 0

    @workflow.signal
    def event(self, payload: str) -> None:
        self.events += 1

    @workflow.run
    async def run(self, name: str) -> int:
        await workflow.wait_condition(lambda: self.events > 0)
        return self.events


@activity.defn(name="floor_record")
async def floor_record(key: str) -> None:
    # One line a run, appended: a second line for a key is a duplicate, a missing one a miss.
    line = f"{key} {time.time():.6f}\n"
    await asyncio.to_thread(_append, Path(os.environ.get("BENCH_FLOOR_RECORD_FILE", os.devnull)), line)


def _append(path: Path, line: str) -> None:
    with path.open("a") as out:
        out.write(line)


# End to end: the row the floor records for each event, in the product's own store (SQLite or PostgreSQL).
FLOOR_TABLE = "CREATE TABLE bench_floor (key VARCHAR(200) PRIMARY KEY, recorded_at DOUBLE PRECISION)"
_engine: AsyncEngine | None = None


@activity.defn(name="floor_store")
async def floor_store(key: str) -> None:
    """One row written to the product's store through its engine: what recording a message costs, bare."""
    # Imported here: the sandboxed floors (ingest, reminders) would import SQLAlchemy for each run.
    from sqlalchemy import text

    from store.engine import make_async_engine

    global _engine
    if _engine is None:
        _engine = make_async_engine(os.environ["DATABASE_URL"])
    async with _engine.begin() as connection:
        statement = text("INSERT INTO bench_floor (key, recorded_at) VALUES (:key, :at)")
        await connection.execute(statement, {"key": key, "at": time.time()})


@workflow.defn(name="FloorEndToEnd")
class FloorEndToEnd:
    """Started by the signal that carries its event, runs one activity that records it, and ends."""

    def __init__(self) -> None:
        self.events = 0

    @workflow.signal
    def event(self, payload: str) -> None:
        self.events += 1

    @workflow.run
    async def run(self, key: str) -> None:
        await workflow.wait_condition(lambda: self.events > 0)
        await workflow.execute_activity(floor_store, key, start_to_close_timeout=timedelta(seconds=30))


@workflow.defn(name="FloorReminder")
class FloorReminder:
    """Sleeps until the planned moment, then runs one no-op activity."""

    @workflow.run
    async def run(self, key: str, due_epoch: float) -> None:
        due = datetime.fromtimestamp(due_epoch, UTC)
        wait = due - workflow.now()
        if wait > timedelta(0):
            await workflow.sleep(wait)
        await workflow.execute_activity(floor_record, key, start_to_close_timeout=timedelta(seconds=30))


def read_record(path: Path) -> dict[str, list[float]]:
    """key -> the moments it ran, from a record file written by floor_record or the Celery task."""
    ran: dict[str, list[float]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, moment = line.split()
            ran.setdefault(key, []).append(float(moment))
    return ran


async def main(address: str, task_queue: str, sandboxed: bool = True) -> None:
    # Run as __main__, this module is imported again by name so the sandbox can find the workflows.
    from bench import floor

    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[floor.FloorNoop, floor.FloorReminder, floor.FloorEndToEnd],
        activities=[floor.floor_record, floor.floor_store],
        # The product's worker runs unsandboxed by default (worker.workflow_runner): so does a fair floor.
        workflow_runner=SandboxedWorkflowRunner() if sandboxed else UnsandboxedWorkflowRunner(),
    )
    async with worker:
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--record-file", required=True)
    parser.add_argument("--unsandboxed", action="store_true", help="no workflow sandbox, as the product")
    args = parser.parse_args()
    os.environ["BENCH_FLOOR_RECORD_FILE"] = args.record_file
    # The product's worker runs on uvloop (worker.run): so does a fair floor.
    uvloop.run(main(args.address, args.task_queue, sandboxed=not args.unsandboxed))
