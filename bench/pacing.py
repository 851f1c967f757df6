"""Provider pacing: M Telegram reminders due at the same moment, to M chats of one bot.

The bot's Bot API is tests/fakes/telegram.py, answering 429 with `retry_after` above 30 messages a
second (and above one a second per chat), like Telegram's. The worker (a process of its own, its
Telegram adapter pointed at the fake) paces the bot through the store (activities/pacing.py). Counted
at the fake: what each chat got (lost, duplicated) and the 429s. Lateness runs from the moment a
reminder was due to the moment the fake took it; the pace forces the k-th message (from 0) to wait
at least k / 30 s, so the floor of M messages is M / 30 s and the table shows both.

python -m bench.pacing                 # 3,000 reminders
python -m bench.pacing --count 300     # smaller
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import signal
import sys
import time
from typing import Any

from bench.appointments import at, confirmed
from bench.reminders import start_waiting
from bench.report import Report, spread
from bench.stack import Stack, rss_mib, until
from domain.settings import TenantSettings
from tests.fakes.telegram import FakeTelegram

BOT_RATE = 30.0
# The reminder is due this long before the appointment: far enough that none expires while it waits its
# turn (a reminder is never sent after the visit began).
LEAD_S = 7200
PATIENCE_S = 120.0  # beyond the floor: what has not reached the fake by then counts as unsent


async def run(count: int = 3000, setup_rate: float = 30.0, tuning: dict[str, Any] | None = None) -> Report:
    fake = FakeTelegram(bot_per_second=BOT_RATE)
    fake.start()
    os.environ["NUDGEFLOW_TELEGRAM_BASE_URL"] = fake.url
    os.environ["NUDGEFLOW_TELEGRAM_BOT_TOKEN"] = fake.token
    settings = {"reminder_offsets": [f"PT{LEAD_S}S"], "max_lateness": "PT1H"}
    try:
        async with Stack(tuning=tuning, settings=settings) as stack:
            argv = [sys.executable, "-m", "bench.pacing", "--worker", "--tuning", json.dumps(stack.tuning)]
            worker = stack.spawn("worker-paced", argv)
            stack.workers.append(worker)
            await stack.wait_polling(worker)
            t0 = time.time() + 5 + count / setup_rate
            tenant_settings = TenantSettings.model_validate(stack.settings)
            chats = iter(range(count))

            async def starter() -> None:
                for i in chats:
                    envelope = confirmed(f"pace-{i}", at(t0 + LEAD_S))
                    envelope["data"]["patient"].update(id=f"p-{i}", telegram_chat_id=str(900_000 + i))
                    await start_waiting(stack, envelope, tenant_settings)

            await asyncio.gather(*(starter() for _ in range(16)))
            slack = t0 - time.time()
            floor_s = count / BOT_RATE

            async def all_taken() -> bool:
                return len(fake.sent()) >= count

            await until(all_taken, t0 + floor_s + PATIENCE_S, every=1)
            await asyncio.sleep(2)  # a duplicate would arrive now
            memory = rss_mib(worker.pid)
            if keep_log := os.environ.get("BENCH_PACING_WORKER_LOG"):
                shutil.copy(stack.dir / "worker-paced.log", keep_log)
    finally:
        fake.stop()
    taken = fake.sent()
    per_chat: dict[str, list[float]] = {}
    for request in taken:
        per_chat.setdefault(request["chat_id"], []).append(request["at"])
    # The fake stamps monotonic time: its first answer anchors it to the wall clock it was due by.
    firsts = sorted(min(times) for times in per_chat.values())
    offset = time.time() - time.monotonic()
    lateness = [first + offset - t0 for first in firsts]
    floor = [k / BOT_RATE for k in range(len(lateness))]
    beyond = [late - forced for late, forced in zip(lateness, floor, strict=True)]
    result = {
        "reminders": count,
        "taken_by_fake": len(taken),
        "unsent": count - len(per_chat),
        "duplicated": len(taken) - len(per_chat),
        "answers_429": fake.flood_answers(),
        "lateness": spread(lateness),
        "pace_floor": spread(floor),
        "beyond_floor": spread(beyond),
        "first_to_last_s": round(firsts[-1] - firsts[0], 1) if firsts else None,
        "setup_slack_s": round(slack, 1),
        "worker_rss_mib": round(memory, 1),
    }
    report = Report("pacing", {"count": count, "bot_rate": BOT_RATE, "tuning": tuning or {}})
    report.data = result
    # What reached the fake and when (s after the reminders were due): where 429s came from.
    timeline = [[round(r["at"] + offset - t0, 2), r["answer"]] for r in fake.requests if "at" in r]
    report.data["timeline"] = timeline
    counts = ["unsent", "duplicated", "answers_429", "first_to_last_s", "setup_slack_s", "worker_rss_mib"]
    report.add(
        f"{count} Telegram reminders due at one moment, one bot answering 429 above {BOT_RATE:.0f}/s",
        [
            "reminders",
            "unsent at the end",
            "duplicated",
            "429 answers",
            "first→last s",
            "setup slack s",
            "RSS MiB",
        ],
        [[count, *(result[key] for key in counts)]],
    )
    spreads = {"lateness": spread(lateness), "pace floor": spread(floor), "beyond it": spread(beyond)}
    report.add(
        "Lateness (due → taken by the fake), beside the floor the pace forces (k-th message: k / 30 s)",
        ["", "p50 s", "p99 s", "max s"],
        [[name, values["p50"], values["p99"], values["max"]] for name, values in spreads.items()],
    )
    return report


async def worker_main(tuning: dict[str, Any]) -> None:
    """The product's worker with its Telegram adapter from the environment (bench.worker_process has none)."""
    from datetime import timedelta

    from channels.config import get_channels_config
    from channels.registry import build_adapters, close_adapters
    from config import get_settings
    from store import Store
    from worker import build_worker
    from worker import tuning as worker_tuning
    from workflows.client import connect

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = get_settings()
    store = Store(settings.database_url)
    client = await connect(settings)
    adapters = build_adapters(get_channels_config())
    asked = {k: timedelta(seconds=v) if k.endswith("_timeout") else v for k, v in tuning.items()}
    worker = build_worker(
        client, store, settings.task_queue, adapters=adapters, **{**worker_tuning(settings), **asked}
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()
    await close_adapters(adapters)
    await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pacing", description=__doc__)
    parser.add_argument("--count", type=int, default=3000, help="reminders due at one moment")
    parser.add_argument("--tuning", default="{}", help="worker.build_worker keyword arguments, as JSON")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker_main(json.loads(args.tuning)))
        return
    report = asyncio.run(run(args.count, tuning=json.loads(args.tuning)))
    print(f"saved {report.save()}")


if __name__ == "__main__":
    main()
