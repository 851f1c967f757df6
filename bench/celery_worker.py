"""One Celery worker of the baseline as a child process group, with its Redis keys under its own prefix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import redis

from bench.celery_app import BROKER, DEFAULT_VISIBILITY_S, make_app
from bench.stack import ROOT, rss_mib


class CeleryBaseline:
    """A Celery app and its worker processes for one scenario; `close()` deletes its Redis keys."""

    def __init__(self, directory: Path, visibility_s: float = DEFAULT_VISIBILITY_S) -> None:
        self.dir = directory
        self.prefix = f"nudgeflow-bench-{uuid.uuid4().hex[:8]}:"
        self.visibility_s = visibility_s
        self.record = directory / f"celery-{self.prefix.rstrip(':')}.txt"
        self.app = make_app(self.prefix, visibility_s)
        self.redis = redis.Redis.from_url(os.environ.get("BENCH_CELERY_BROKER", BROKER))
        self.worker: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start_worker(self) -> None:
        self.starts += 1
        env = {
            **os.environ,
            "BENCH_CELERY_PREFIX": self.prefix,
            "BENCH_CELERY_VISIBILITY": str(self.visibility_s),
            "BENCH_CELERY_RECORD_FILE": str(self.record),
        }
        argv = [sys.executable, "-m", "celery", "-A", "bench.celery_app", "worker", "--loglevel", "WARNING"]
        argv += ["--concurrency", "2", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        argv += ["--hostname", f"{self.prefix.rstrip(':')}-{self.starts}@bench"]
        log = open(self.dir / f"celery-worker-{self.starts}.log", "ab")
        # Its own process group: SIGKILL must take the prefork children too, as a lost machine would.
        self.worker = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, process_group=0
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.app.control.ping(timeout=0.5):
                return
            if self.worker.poll() is not None:
                raise RuntimeError(f"the Celery worker exited; see {self.dir}")
        raise RuntimeError("the Celery worker did not answer a ping within 60 s")

    def schedule(self, moments: Sequence[tuple[str, float]]) -> dict[str, str]:
        """key -> Celery task id: one ETA task per reminder, as `apply_async(eta=...)` does."""
        return {
            key: self.app.send_task("remind", args=[key], eta=datetime.fromtimestamp(moment, UTC)).id
            for key, moment in moments
        }

    def waiting_in_redis(self) -> int:
        return int(self.redis.llen(f"{self.prefix}reminders"))

    def wait_reserved(self, patience: float = 60) -> None:
        """Until the worker has taken every message: ETA tasks wait in its memory, unacked."""
        deadline = time.monotonic() + patience
        while self.waiting_in_redis() and time.monotonic() < deadline:
            time.sleep(0.2)

    def kill_worker(self) -> None:
        assert self.worker is not None
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait()

    def rss_mib(self) -> float:
        """The worker's main process and its prefork children."""
        assert self.worker is not None
        pids = [self.worker.pid]
        children = Path(f"/proc/{self.worker.pid}/task/{self.worker.pid}/children")
        pids += [int(p) for p in children.read_text().split()] if children.exists() else []
        return sum(rss_mib(pid) for pid in pids)

    def close(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGTERM)
            try:
                self.worker.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.worker.pid, signal.SIGKILL)
                self.worker.wait()
        keys = list(self.redis.scan_iter(match=f"{self.prefix}*", count=1000))
        if keys:
            self.redis.delete(*keys)
        self.app.close()
        self.redis.close()
