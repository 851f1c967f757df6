"""End to end: N appointment.confirmed events posted over HTTP -> N confirmations in the delivery log,
beside its floor measured in the same run with the same concurrency: a bare workflow started by
signal-with-start that runs one activity writing one row to the same store (bench/floor.py).

Three moments per event, all on this machine's clock: the request sent (for the floor: the
signal-with-start call), the event in its workflow (the relay settled the outbox row `routed`; for the
floor: signal-with-start answered, the signal is in the history), and the message recorded
(`deliveries.sent_at`; for the floor: the row written).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select, text

from bench.appointments import STRUCTURED, duplicate_sends, sent, wait_for_sent
from bench.floor import FLOOR_TABLE
from bench.ingest import WARMUP, drive, make_events
from bench.report import Report, results_name, spread
from bench.stack import Stack, until
from store.tables import DeliveryRow, InboundEventRow


def epoch(moment: datetime) -> float:
    """SQLite hands back naive datetimes: they are UTC."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class Run:
    """What one path (nudgeflow or the floor) measured: rates counted from its first request."""

    def __init__(
        self, began: float, accepted: float, in_workflow: list[float], recorded: dict[str, float]
    ) -> None:
        self.accepted_rate = accepted
        self.in_workflow_rate = len(in_workflow) / (max(in_workflow) - began) if in_workflow else 0.0
        self.count = len(recorded)
        self.recorded_rate = self.count / (max(recorded.values()) - began) if recorded else 0.0
        self.latency: dict[str, float | None] = {}
        # nudgeflow's relay senders (api/relay.Pace), sampled every half second during the burst
        self.senders: list[float] = []
        # nudgeflow's confirmations by delivery status at the end (warm-up included)
        self.statuses: dict[str, int] = {}

    def since(self, sent_at: dict[str, float], recorded: dict[str, float]) -> Run:
        self.latency = spread([at - sent_at[key] for key, at in recorded.items()])
        return self


async def floor(stack: Stack, count: int, clients: int) -> Run:
    async with stack.store.engine.begin() as connection:
        await connection.execute(text(FLOOR_TABLE))
    worker = stack.start_floor_worker(stack.dir / "floor-e2e.txt", sandboxed=False)
    queue = f"{stack.task_queue}-floor"
    await stack.wait_polling(worker, queue)
    payload = json.dumps(make_events(1, "floor")[0])
    started: dict[str, float] = {}
    answered: list[float] = []

    async def call(index: int) -> None:
        key = f"floor-e2e-{index}"
        started[key] = time.time()
        await stack.client.start_workflow(
            "FloorEndToEnd",
            key,
            id=key,
            task_queue=queue,
            start_signal="event",
            start_signal_args=[payload],
        )
        answered.append(time.time())

    await drive(WARMUP, clients, lambda i: call(count + i))
    began = time.time()
    rate, _ = await drive(count, clients, call)

    async def recorded() -> dict[str, float]:
        async with stack.store.engine.connect() as connection:
            rows = await connection.execute(text("SELECT key, recorded_at FROM bench_floor"))
            return {key: float(at) for key, at in rows}

    async def all_recorded() -> bool:
        return len(await recorded()) >= count + WARMUP

    await until(all_recorded, time.time() + 60 + count / 5, every=0.2)
    worker.terminate()
    worker.wait(10)
    mine = {key: at for key, at in (await recorded()).items() if int(key.rsplit("-", 1)[1]) < count}
    return Run(began, rate, answered[WARMUP:], mine).since(started, mine)


async def senders(http: httpx.AsyncClient, seen: list[float]) -> None:
    """Sample the relay's senders (api/relay.Pace) from /metrics until cancelled."""
    while True:
        for line in (await http.get("/metrics")).text.splitlines():
            if line.startswith("nudgeflow_relay_senders "):
                seen.append(float(line.split()[1]))
        await asyncio.sleep(0.5)


async def product(
    stack: Stack, count: int, clients: int, workers: int = 1
) -> tuple[Run, int, dict[str, float]]:
    batch = make_events(count, "e2e")
    warmup = make_events(WARMUP, "e2e-warmup")
    posted_at: dict[str, float] = {}
    await stack.start_api()
    for _ in range(workers):
        await stack.wait_polling(stack.start_worker())
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60, limits=limits) as http:

        async def post(event: dict[str, Any]) -> None:
            posted_at[event["subject"]] = time.time()
            response = await http.post("/v1/events", headers=STRUCTURED, content=json.dumps(event))
            if response.status_code != 202:
                raise RuntimeError(f"POST answered {response.status_code}: {response.text[:300]}")

        await drive(WARMUP, clients, lambda i: post(warmup[i]))
        await wait_for_sent(stack.store, "confirmed", WARMUP, patience=60)
        posted_at.clear()
        cpu_before, wall_before = stack.cpu(), time.monotonic()
        began = time.time()
        seen: list[float] = []
        sampler = asyncio.create_task(senders(http, seen))
        rate, _ = await drive(count, clients, lambda i: post(batch[i]))
        await wait_for_sent(stack.store, "confirmed", WARMUP + count, patience=60 + count / 5)
        sampler.cancel()
        cpu_after, wall = stack.cpu(), time.monotonic() - wall_before
    # deliveries.subject ends with the appointment id the event named
    recorded = {
        r[0].split(":")[-1]: epoch(r[3])
        for r in await sent(stack.store, "confirmed")
        if r[0].split(":")[-1] in posted_at
    }
    query = select(InboundEventRow.routed_at).where(
        InboundEventRow.event_id.like("appointment.confirmed:e2e-%"),
        InboundEventRow.event_id.not_like("appointment.confirmed:e2e-warmup-%"),
        InboundEventRow.routed_at.is_not(None),
    )
    async with stack.store.engine.connect() as connection:
        routed = [epoch(at) for (at,) in await connection.execute(query) if at is not None]
        statuses = select(DeliveryRow.status, func.count()).where(DeliveryRow.step.startswith("confirmed"))
        result_statuses = dict((await connection.execute(statuses.group_by(DeliveryRow.status))).all())
    result = Run(began, rate, routed, recorded).since(posted_at, recorded)
    result.statuses = {str(status): int(n) for status, n in result_statuses.items()}
    cores = {name: round((cpu_after[name] - cpu_before[name]) / wall, 2) for name in cpu_after}
    result.senders = seen
    return result, await duplicate_sends(stack.store), cores


async def run(
    events: int = 1000, clients: int = 16, tuning: dict[str, Any] | None = None, workers: int = 1
) -> Report:
    """`workers` product workers (one floor worker): two against one says whether a second process helps."""
    store = os.environ.get("BENCH_DATABASE", "sqlite")
    params = {"events": events, "clients": clients, "workers": workers, "tuning": tuning or {}}
    report = Report(results_name("end_to_end", workers), params)
    async with Stack(tuning=tuning) as stack:
        bare = await floor(stack, events, clients)
        ours, duplicates, cores = await product(stack, events, clients, workers)
    report.add(
        f"End to end on {store}: {events} appointment.confirmed -> confirmation recorded, {clients} clients, "
        f"{workers} worker{'s' if workers > 1 else ''}",
        ["events", "messages", "missing", "duplicates"],
        [[events, ours.count, events - ours.count, duplicates]],
    )
    measures = [
        ("accepted (202) /s", ours.accepted_rate, bare.accepted_rate, True),
        ("in their workflows /s", ours.in_workflow_rate, bare.in_workflow_rate, True),
        ("messages recorded /s", ours.recorded_rate, bare.recorded_rate, True),
        ("p50 POST -> recorded s", ours.latency["p50"], bare.latency["p50"], False),
        ("p99 POST -> recorded s", ours.latency["p99"], bare.latency["p99"], False),
    ]
    report.add(
        "Beside the floor (bare signal-with-start -> one activity -> one row, same run, same clients)",
        ["measure", "nudgeflow", "floor", "nudgeflow / floor"],
        [[label, _round(mine), _round(theirs), _ratio(mine, theirs)] for label, mine, theirs, _ in measures],
    )
    report.data = {
        "nudgeflow": {label: mine for label, mine, _, _ in measures},
        "floor": {label: theirs for label, _, theirs, _ in measures},
    }
    report.add(
        "Where the 2 cores went during nudgeflow's burst (CPU seconds per wall second; 1.0 = one core)",
        ["process", "cores"],
        [[process, used] for process, used in cores.items()],
    )
    if ours.senders:
        report.add(
            "The relay's senders during the burst (api/relay.Pace; sampled from /metrics every 0.5 s)",
            ["samples", "mean", "most"],
            [[len(ours.senders), round(sum(ours.senders) / len(ours.senders), 1), max(ours.senders)]],
        )
    report.note(f"confirmations by status at the end, warm-up included: {ours.statuses}")
    report.note("all events posted as fast as C clients go: latency includes queueing behind the burst")
    report.note("the floor's 202 and in-workflow moments are one: signal-with-start answers once it is in")
    return report


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3 if value < 10 else 1)


def _ratio(mine: float | None, theirs: float | None) -> float | None:
    return None if not mine or not theirs else round(mine / theirs, 2)
