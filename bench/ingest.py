"""Ingest: N events over HTTP to POST /v1/events with C clients, beside the floor of bare signal-with-start.

The floor sends the same number of signal-with-start calls of a no-op workflow straight to Temporal,
with the same concurrency and a payload of the same size, to a worker that runs that no-op workflow.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

from bench.appointments import STRUCTURED, confirmed, wait_for_sent
from bench.report import Report, spread
from bench.stack import Stack, until

WARMUP = 20
T = TypeVar("T")


async def drive(
    count: int, clients: int, call: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float]]:
    """Run call(0..count-1) on `clients` concurrent loops; (events/s, latencies in seconds)."""
    latencies: list[float] = []
    next_index = iter(range(count))

    async def client_loop() -> None:
        for index in next_index:
            began = time.perf_counter()
            await call(index)
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return count / (time.perf_counter() - began), latencies


async def floor(
    stack: Stack, events: list[dict[str, Any]], clients: int, run: str
) -> tuple[float, list[float]]:
    worker = stack.start_floor_worker(stack.dir / "floor-ingest.txt")
    queue = f"{stack.task_queue}-floor"
    await stack.wait_polling(worker, queue)
    payloads = [json.dumps(e) for e in events]

    async def call(index: int) -> None:
        await stack.client.start_workflow(
            "FloorNoop",
            f"{run}-{index}",
            id=f"floor:{run}:{index}",
            task_queue=queue,
            start_signal="event",
            start_signal_args=[payloads[index % len(payloads)]],
        )

    await drive(min(WARMUP, len(events)), clients, lambda i: call(len(events) + i))
    result = await cores(stack, drive(len(events), clients, call), "floor")
    worker.terminate()
    return result


async def product(stack: Stack, events: list[dict[str, Any]], clients: int) -> tuple[float, list[float]]:
    await stack.start_api()
    await stack.wait_polling(stack.start_worker())
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60, limits=limits) as http:
        bodies = [json.dumps(e) for e in events]

        async def call(index: int) -> None:
            response = await http.post("/v1/events", headers=STRUCTURED, content=bodies[index])
            if response.status_code != 202:
                raise RuntimeError(f"POST /v1/events answered {response.status_code}: {response.text[:300]}")

        warmup = [json.dumps(e) for e in make_events(min(WARMUP, len(events)), "warmup")]

        async def warm(index: int) -> None:
            await http.post("/v1/events", headers=STRUCTURED, content=warmup[index])

        await drive(len(warmup), clients, warm)
        await wait_for_sent(stack.store, "confirmed", len(warmup), patience=60)
        began = time.monotonic()
        result = await cores(stack, drive(len(events), clients, call), "nudgeflow")
        AFTER["accepted"] = time.monotonic() - began
        await until(lambda: _outbox_empty(stack), time.time() + 60 + len(events) / 5, every=0.1)
        AFTER["in their workflows"] = time.monotonic() - began
        await wait_for_sent(stack.store, "confirmed", len(warmup) + len(events), 60 + len(events) / 5)
        AFTER["confirmations recorded"] = time.monotonic() - began
        return result


AFTER: dict[str, float] = {}


async def _outbox_empty(stack: Stack) -> bool:
    return not await stack.store.pending_events(datetime.now(UTC) + timedelta(seconds=1), limit=1)


CORES: dict[str, dict[str, float]] = {}


async def cores(stack: Stack, work: Awaitable[T], path: str) -> T:
    """Run `work`, noting the CPU each process used meanwhile (cores: CPU seconds per wall second)."""
    before, began = stack.cpu(), time.monotonic()
    result = await work
    after, wall = stack.cpu(), time.monotonic() - began
    CORES[path] = {name: round((after[name] - before[name]) / wall, 2) for name in after if name in before}
    return result


def make_events(count: int, prefix: str, opted_out: Sequence[str] = ()) -> list[dict[str, Any]]:
    # Three days ahead: each event sends its confirmation now and nothing else within the run.
    starts_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    return [confirmed(f"{prefix}-{i}", starts_at, opted_out=opted_out) for i in range(count)]


async def run(events: int = 1000, clients: int = 16, tuning: dict[str, Any] | None = None) -> Report:
    report = Report("ingest", {"events": events, "clients": clients, "tuning": tuning or {}})
    batch = make_events(events, "ingest")
    async with Stack(tuning=tuning) as stack:
        floor_rate, floor_lat = await floor(stack, batch, clients, "ingest")
        rate, lat = await product(stack, batch, clients)
    rows = [
        ["bare signal-with-start (floor)", events, clients, round(floor_rate, 1), *_ms(floor_lat).values()],
        ["POST /v1/events (nudgeflow)", events, clients, round(rate, 1), *_ms(lat).values()],
    ]
    report.add(
        f"Ingest: {events} appointment.confirmed events, {clients} concurrent clients",
        ["path", "events", "clients", "events/s", "p50 ms", "p99 ms", "max ms"],
        rows,
    )
    report.add("Ingest ratio", ["nudgeflow / floor"], [[round(rate / floor_rate, 2)]])
    report.add(
        "After the burst: seconds from the first POST until every event was ...",
        ["stage", "s", "events/s"],
        [[stage, round(after, 2), round(events / after, 1)] for stage, after in AFTER.items()],
    )
    report.add(
        "Where the 2 cores went while posting (CPU seconds per wall second; 1.0 = one core busy)",
        ["path", "process", "cores"],
        [[path, name, used] for path, per_process in CORES.items() for name, used in per_process.items()],
    )
    report.note("one event per request (structured mode); the worker runs and sends confirmations meanwhile")
    report.note(
        "202 means stored: under a burst the relay (api/relay.py) signals the workflows behind the answers"
    )
    return report


def _ms(latencies: list[float]) -> dict[str, float | None]:
    return {k: None if v is None else round(v * 1000, 1) for k, v in spread(latencies).items()}
