"""`python -m bench.worker_process`: worker.py's main, with the worker tuning a benchmark asks for."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from datetime import timedelta
from typing import Any

from config import get_settings
from store import Store
from worker import build_worker, run
from worker import tuning as worker_tuning
from workflows.client import connect


async def main(tuning: dict[str, Any]) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = get_settings()
    store = Store(settings.database_url)
    client = await connect(settings)
    # The product's defaults (config.py), then whatever the benchmark asks for; JSON has no
    # durations, so a number for a *_timeout keyword is seconds.
    asked = {
        key: timedelta(seconds=value) if key.endswith("_timeout") and not isinstance(value, str) else value
        for key, value in tuning.items()
    }
    worker = build_worker(client, store, settings.task_queue, **{**worker_tuning(settings), **asked})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()
    await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tuning", default="{}", help="keyword arguments of build_worker, as JSON")
    run(main(json.loads(parser.parse_args().tuning)))
