"""The baseline as a Python team builds reminders without Temporal: Celery ETA tasks on Redis.

`send_task("remind", args=[key], eta=moment)` when an appointment is booked; the task renders the
reminder and records the moment it ran (one line per run: a second line for a key is a duplicate).
The worker runs `celery -A bench.celery_app worker`; the settings come from the environment so the
benchmark can shrink the visibility timeout and keep its keys apart from anyone else's.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery import Celery

from i18n import TemplateRenderer, sample_context

BROKER = "redis://127.0.0.1:6379/11"
DEFAULT_VISIBILITY_S = 3600.0  # kombu's default for Redis: an unacked message comes back after 1 h


def make_app(prefix: str, visibility_s: float = DEFAULT_VISIBILITY_S) -> Celery:
    app = Celery("nudgeflow-bench", broker=os.environ.get("BENCH_CELERY_BROKER", BROKER))
    options: dict[str, object] = {"visibility_timeout": visibility_s, "global_keyprefix": prefix}
    if visibility_s < DEFAULT_VISIBILITY_S:
        # A shrunk timeout needs the unacked sweep shrunk too (default: every ~100 s), else a
        # short run never sees the restore that the default settings do an hour later.
        options |= {"unacked_restore_interval": 1, "unacked_restore_throttle": 1}
    app.conf.update(
        # global_keyprefix keeps this run's queues and unacked sets apart from other Redis users.
        broker_transport_options=options,
        task_default_queue="reminders",
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
    )
    return app


app = make_app(
    os.environ.get("BENCH_CELERY_PREFIX", "nudgeflow-bench:"),
    float(os.environ.get("BENCH_CELERY_VISIBILITY", DEFAULT_VISIBILITY_S)),
)
_renderer = TemplateRenderer()
_context = sample_context("visit_reminder", locale="ru-RU", timezone="Europe/Moscow")


@app.task(name="remind")  # type: ignore[untyped-decorator]
def remind(key: str) -> None:
    _renderer.render(
        "visit_reminder", locale="ru-RU", channel="sms", context=_context, timezone="Europe/Moscow"
    )
    with Path(os.environ["BENCH_CELERY_RECORD_FILE"]).open("a") as out:
        out.write(f"{key} {time.time():.6f}\n")
