"""nudgeflow's side of the Celery scenarios: a worker killed before a burst; cancelled and moved visits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.appointments import at, cancelled, confirmed, duplicate_sends, post_batches, rescheduled, sent
from bench.reminders import all_sent, start_waiting
from bench.report import spread
from bench.stack import Stack, until
from domain.settings import TenantSettings

OFFSET_S = 20
SETTINGS = {"reminder_offsets": [f"PT{OFFSET_S}S"], "max_lateness": "PT1H"}


async def start_all(stack: Stack, due: dict[str, float]) -> None:
    settings = TenantSettings.model_validate(stack.settings)
    items = iter(due.items())

    async def starter() -> None:
        for key, moment in items:
            await start_waiting(stack, confirmed(key, at(moment + OFFSET_S)), settings)

    await asyncio.gather(*(starter() for _ in range(16)))


async def reminders_sent(stack: Stack) -> dict[str, list[float]]:
    """appointment id -> lateness of each reminder sent for it."""
    sent_by: dict[str, list[float]] = {}
    for subject, _step, scheduled_for, sent_at in await sent(stack.store, "reminder"):
        sent_by.setdefault(subject.split(":")[-1], []).append((sent_at - scheduled_for).total_seconds())
    return sent_by


async def killed_before_burst(k: int, lead: float, patience: float) -> dict[str, Any]:
    async with Stack(settings=SETTINGS) as stack:
        worker = stack.start_worker()
        await stack.wait_polling(worker)
        t0 = time.time() + lead
        due = {f"kill-{i}": t0 + i * 5 / k for i in range(k)}
        await start_all(stack, due)
        await asyncio.sleep(max(0.0, t0 - 6 - time.time()))
        worker.kill()
        worker.wait()
        await asyncio.sleep(2)
        stack.start_worker()
        await until(lambda: all_sent(stack, k), t0 + 5 + patience)
        by_key = await reminders_sent(stack)
        duplicates = await duplicate_sends(stack.store)
    lateness = [late[0] for late in by_key.values()]
    extra = sum(len(late) - 1 for late in by_key.values())
    return {**spread(lateness), "missed": k - len(lateness), "duplicated": duplicates + extra}


async def cancelled_and_moved(k: int, lead: float, spread: float, settle: float) -> dict[str, dict[str, int]]:
    """k/2 untouched, k/4 cancelled, k/4 moved an hour on, all right after booking."""
    groups = ["untouched", "untouched", "cancelled", "moved"]
    async with Stack(settings=SETTINGS) as stack:
        await stack.start_api()
        await stack.wait_polling(stack.start_worker())
        t0 = time.time() + lead + k / 40
        due = {f"{groups[i % 4]}-{i}": t0 + i * spread / k for i in range(k)}
        await start_all(stack, due)
        changes = [cancelled(key) for key in due if key.startswith("cancelled")]
        changes += [
            rescheduled(key, at(due[key] + OFFSET_S + 3600)) for key in due if key.startswith("moved")
        ]
        await post_batches(stack.api_url, changes)
        await until(lambda: all_sent(stack, k // 2), t0 + spread + settle)
        await asyncio.sleep(1)  # a reminder that should not come would come with the others
        by_key = await reminders_sent(stack)
        duplicates = await duplicate_sends(stack.store)
    result: dict[str, dict[str, int]] = {}
    for group in ("untouched", "cancelled", "moved"):
        keys = [key for key in due if key.startswith(group)]
        fired = [key for key in keys if key in by_key]
        result[group] = {
            "expected": len(keys),
            "fired": len(fired),
            "missed": len(keys) - len(fired),
            "duplicated": sum(len(by_key[key]) - 1 for key in fired),
        }
    result["untouched"]["duplicated"] += duplicates
    return result
