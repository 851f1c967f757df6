"""`python -m bench.failover`: two workers, one SIGKILLed mid-burst; how long its tasks wait for the other.

K appointment lifecycles wait for a reminder (started as bench.reminders does), due spread over
`spread` seconds. Two workers share the burst; `kill_after` seconds into it one is SIGKILLed. The
workflow tasks it held (started, not completed) wait for their task timeout before the live worker
may take them: Temporal's default is 10 s, `NUDGEFLOW_WORKFLOW_TASK_TIMEOUT` ours. Reported per
timeout: the tasks that timed out (from the histories), the longest wait from the kill until their
workflow's next task completed on the live worker, and the reminders' lateness.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType, TimeoutType

from bench.appointments import at, confirmed, duplicate_sends, sent
from bench.reminders import all_sent, start_waiting, with_unsent
from bench.report import Report, spread
from bench.stack import Stack, until
from domain.settings import TenantSettings

OFFSET_S = 20
SETTINGS = {"reminder_offsets": [f"PT{OFFSET_S}S"], "max_lateness": "PT1H"}
PATIENCE_S = 40.0


async def held_by_the_dead(stack: Stack, ids: list[str], killed_at: float) -> list[float]:
    """Per workflow whose task timed out on the dead worker: seconds from the kill to its next task done."""
    waits = []
    for workflow_id in ids:
        history = await stack.client.get_workflow_handle(workflow_id).fetch_history()
        timed_out = False
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                kind = event.workflow_task_timed_out_event_attributes.timeout_type
                timed_out = timed_out or kind == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
            elif timed_out and event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                waits.append(event.event_time.ToDatetime(UTC).timestamp() - killed_at)
                break
    return waits


async def one_run(k: int, spread_s: float, kill_after: float, task_timeout: float) -> dict[str, Any]:
    async with Stack(settings=SETTINGS) as stack:
        workers = [stack.start_worker(), stack.start_worker()]
        for worker in workers:
            await stack.wait_polling(worker)
        t0 = time.time() + 8 + k / 50
        due = {f"fo-{i}": t0 + i * spread_s / k for i in range(k)}
        settings = TenantSettings.model_validate(stack.settings)
        items = iter(due.items())

        async def starter() -> None:
            for key, moment in items:
                event = confirmed(key, at(moment + OFFSET_S))
                await start_waiting(stack, event, settings, task_timeout=timedelta(seconds=task_timeout))

        await asyncio.gather(*(starter() for _ in range(16)))
        await asyncio.sleep(max(0.0, t0 + kill_after - time.time()))
        workers[0].kill()
        killed_at = time.time()
        workers[0].wait()
        await until(lambda: all_sent(stack, k), t0 + spread_s + PATIENCE_S)
        rows = await sent(stack.store, "reminder")
        duplicates = await duplicate_sends(stack.store)
        waits = await held_by_the_dead(stack, [f"appointment:demo:{key}" for key in due], killed_at)
    first: dict[str, float] = {}
    for subject, _step, scheduled_for, sent_at in rows:
        first.setdefault(subject.split(":")[-1], (sent_at - scheduled_for).total_seconds())
    lateness = spread(with_unsent(first, due))
    return {
        "task_timeout_s": task_timeout,
        "tasks_held_by_the_dead_worker": len(waits),
        "longest_wait_after_kill_s": round(max(waits), 2) if waits else None,
        "lateness_p99_s": lateness["p99"],
        "lateness_max_s": lateness["max"],
        "missed": k - len(first),
        "duplicated": duplicates + len(rows) - len(first),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


async def main(k: int, spread_s: float, kill_after: float, timeouts: list[float]) -> None:
    report = Report(
        "failover", {"k": k, "spread_s": spread_s, "kill_after_s": kill_after, "timeouts": timeouts}
    )
    results = [await one_run(k, spread_s, kill_after, timeout) for timeout in timeouts]
    columns = list(results[0])[:-1]
    report.add(
        f"Two workers, one SIGKILLed {kill_after:g} s into a burst of {k} reminders over {spread_s:g} s",
        columns,
        [[r[c] for c in columns] for r in results],
    )
    report.data["runs"] = results
    print(f"saved {report.save()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--k", type=int, default=300)
    parser.add_argument("--spread", type=float, default=10.0)
    parser.add_argument("--kill-after", type=float, default=4.0)
    parser.add_argument("--timeouts", type=float, nargs="+", default=[10.0, 4.0])
    args = parser.parse_args()
    asyncio.run(main(args.k, args.spread, args.kill_after, args.timeouts))
