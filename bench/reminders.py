"""Reminder capacity: M reminders due spread evenly over one minute, at rising M, beside the bare floor.

nudgeflow: M appointment lifecycles as they stand days after booking: confirmed, the confirmation
already sent, waiting for their reminder (tenant reminder_offsets [30 s], no quiet hours). They are
started straight on Temporal with that state, as continue-as-new would carry it, so setting up costs
one workflow task each instead of a confirmation (ingest and end_to_end measure those). Reminder i is
due at T0 + i * 60 s / M; lateness runs from `scheduled_for` to `sent_at` in the delivery log.
The floor: one bare workflow per reminder that sleeps until the same moment, then runs one no-op
activity, which appends the moment it ran to a file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.appointments import at, confirmed, duplicate_sends, sent
from bench.floor import read_record
from bench.report import Report, results_name, spread
from bench.stack import Stack, rss_mib, until
from domain.events import DomainEvent
from domain.settings import TenantSettings
from workflows.routes import route

OFFSET_S = 30
PATIENCE_S = 30.0  # after the last reminder is due: what is not sent by then counts as unsent


def outcome(m: int, lateness: list[float], missed: int, duplicates: int, slack: float) -> dict[str, Any]:
    return {
        "m": m,
        **spread(lateness),
        "missed": missed,
        "duplicated": duplicates,
        "setup_slack_s": round(slack, 1),
    }


async def product(
    m: int, window: float, setup_rate: float, tuning: dict[str, Any] | None, workers: int = 1
) -> dict[str, Any]:
    settings = {"reminder_offsets": [f"PT{OFFSET_S}S"], "max_lateness": "PT1H"}
    async with Stack(tuning=tuning, settings=settings) as stack:
        started = [stack.start_worker() for _ in range(workers)]
        for worker in started:
            await stack.wait_polling(worker)
        t0 = time.time() + 5 + m / setup_rate
        due = {f"rem-{i}": t0 + i * window / m for i in range(m)}
        tenant_settings = TenantSettings.model_validate(stack.settings)
        lifecycles = iter(due.items())

        async def starter() -> None:
            for key, moment in lifecycles:
                await start_waiting(stack, confirmed(key, at(moment + OFFSET_S)), tenant_settings)

        await asyncio.gather(*(starter() for _ in range(16)))
        slack = t0 - time.time()
        end = t0 + window + PATIENCE_S
        cpu_before = workers_cpu(stack)
        await until(lambda: all_sent(stack, m), end, every=1)
        cpu = workers_cpu(stack) - cpu_before
        rows = await sent(stack.store, "reminder")
        duplicates = await duplicate_sends(stack.store)
        memory = max(rss_mib(worker.pid) for worker in started)
        tasks = await stack.workflow_tasks_cut()
    first: dict[str, float] = {}
    for subject, _step, scheduled_for, sent_at in rows:
        first.setdefault(subject.split(":")[-1], (sent_at - scheduled_for).total_seconds())
    duplicates += len(rows) - len(first)  # two reminder rows for one appointment: sent twice
    result = outcome(m, with_unsent(first, due), m - len(first), duplicates, slack)
    return {
        **result,
        "worker_rss_mib": round(memory, 1),
        "worker_cpu_ms": per_reminder(cpu, len(first)),
        **tasks,
    }


async def floor(m: int, window: float, clients: int = 16) -> dict[str, Any]:
    async with Stack() as stack:
        record_file = stack.dir / "floor-reminders.txt"
        worker = stack.start_floor_worker(record_file)
        queue = f"{stack.task_queue}-floor"
        await stack.wait_polling(worker, queue)
        t0 = time.time() + 5 + m / 100
        due = {f"floor-{i}": t0 + i * window / m for i in range(m)}
        keys = iter(due.items())

        async def starter() -> None:
            for key, moment in keys:
                await stack.client.start_workflow(
                    "FloorReminder", args=[key, moment], id=key, task_queue=queue
                )

        await asyncio.gather(*(starter() for _ in range(clients)))
        slack = t0 - time.time()
        end = t0 + window + PATIENCE_S
        cpu_before = workers_cpu(stack)

        async def all_ran() -> bool:
            return len(read_record(record_file)) >= m

        await until(all_ran, end, every=1)
        cpu = workers_cpu(stack) - cpu_before
        ran = read_record(record_file)
        memory = rss_mib(worker.pid)
    lateness = with_unsent({key: times[0] - due[key] for key, times in ran.items()}, due)
    duplicates = sum(len(times) - 1 for times in ran.values())
    result = outcome(m, lateness, m - len(ran), duplicates, slack)
    return {**result, "worker_rss_mib": round(memory, 1), "worker_cpu_ms": per_reminder(cpu, len(ran))}


def workers_cpu(stack: Stack) -> float:
    """CPU seconds used so far by the stack's workers (nudgeflow's or the floor's), all together."""
    return sum(seconds for name, seconds in stack.cpu().items() if "worker" in name)


def per_reminder(cpu_seconds: float, reminders: int) -> float | None:
    """The workers' CPU from the end of setting up to the last reminder, per reminder, in ms."""
    return round(cpu_seconds * 1000 / reminders, 1) if reminders else None


async def all_sent(stack: Stack, count: int) -> bool:
    return len(await sent(stack.store, "reminder")) >= count


async def start_waiting(
    stack: Stack, envelope: dict[str, Any], settings: TenantSettings, task_timeout: timedelta | None = None
) -> None:
    """Start an appointment's lifecycle confirmed a while ago, its confirmation sent."""
    event = DomainEvent(
        id=envelope["id"],
        source=envelope["source"],
        type=envelope["type"],
        tenant="demo",
        sequence=int(envelope["sequence"]),
        received_at=datetime.now(UTC),
        data=envelope["data"],
    )
    target = route("demo", event.type, event.parsed())
    assert target is not None
    carried = {"events": [event.model_dump()], "settings": settings.model_dump()}
    carried["done"] = {"confirmed": {"at": event.received_at, "status": "sent"}}
    start = type(target.input).model_validate({**target.input.model_dump(), **carried})
    await stack.client.start_workflow(
        target.run, start, id=target.workflow_id, task_queue=stack.task_queue, task_timeout=task_timeout
    )


def with_unsent(lateness: dict[str, float], due: dict[str, float]) -> list[float]:
    """Every reminder's lateness; one still unsent counts with what it has waited so far (a lower bound)."""
    now = time.time()
    return [lateness[key] if key in lateness else now - moment for key, moment in due.items()]


def capacity(results: Sequence[dict[str, Any]]) -> int | None:
    """The highest M per minute whose p99 lateness stayed under 2 s with nothing missed or duplicated."""
    held = [
        r["m"]
        for r in results
        if r["p99"] is not None and r["p99"] < 2.0 and r["missed"] == 0 and r["duplicated"] == 0
    ]
    return max(held) if held else None


def cut_of(result: dict[str, Any]) -> str | None:
    """Cut / run for the product's workflow tasks (cut at their timeout by Temporal); none for the floor."""
    if "workflow_tasks" not in result:
        return None
    return f"{result['workflow_tasks_cut']} / {result['workflow_tasks']}"


async def run(
    sizes: Sequence[int] = (500, 1000, 2000),
    window: float = 60.0,
    setup_rate: float = 60.0,
    tuning: dict[str, Any] | None = None,
    workers: int = 1,
) -> Report:
    """`workers` product workers (the floor has one): two against one on the same cores."""
    params = {
        "sizes": list(sizes),
        "window_s": window,
        "offset_s": OFFSET_S,
        "workers": workers,
        "tuning": tuning or {},
    }
    report = Report(results_name("reminders", workers), params)
    columns = [
        "system",
        "M/min",
        "p50 s",
        "p99 s",
        "max s",
        "unsent at +30 s",
        "duplicated",
        "setup slack s",
        "RSS MiB",
        "worker CPU ms / reminder",
        "workflow tasks cut / run",
    ]
    rows: list[list[Any]] = []
    results: dict[str, list[dict[str, Any]]] = {"floor": [], "nudgeflow": []}
    for m in sizes:
        per_minute = round(m * 60 / window)
        for system in ("floor", "nudgeflow"):
            if system == "floor":
                r = await floor(m, window)
            else:
                r = await product(m, window, setup_rate, tuning, workers)
            results[system].append(r)
            rows.append([system, per_minute, r["p50"], r["p99"], r["max"], r["missed"], r["duplicated"]])
            rows[-1] += [r["setup_slack_s"], r["worker_rss_mib"], r["worker_cpu_ms"], cut_of(r)]
            print(f"  {system} M={m}: p99 {r['p99']} s, missed {r['missed']}", flush=True)
    report.data = results
    report.add(f"Reminder lateness, M reminders due evenly over {window:.0f} s", columns, rows)
    scale = 60 / window
    report.add(
        "Capacity: highest rate with p99 lateness < 2 s, none missed or duplicated",
        ["system", "reminders/min"],
        [[s, None if (c := capacity(results[s])) is None else round(c * scale)] for s in results],
    )
    report.note("an unsent reminder counts in the percentiles with the time it had waited when the run ended")
    report.note(
        "a cut workflow task ran past its start-to-close timeout (4 s): Temporal ran it again, and its "
        "workflow waited the timeout; the sign of more tasks at once than the worker's cores finish"
    )
    report.note(
        "setup slack < 0 means setting up overran the first due moment: those reminders count as late"
    )
    return report
