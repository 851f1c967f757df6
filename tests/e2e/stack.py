"""The product as separate processes: the API (uvicorn) and workers, against a real dev server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def wait_healthy(url: str, log: Path, seconds: float = 30, alive: Callable[[], bool] = lambda: True) -> None:
    """Until `url`/healthz answers 200, through one client: a new client per try loads the CA
    bundle again (about 20 ms of CPU each, 2 % of the whole suite's before)."""
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            assert alive(), (
                f"the process exited; its log ends:\n{log.read_text()[-3000:] if log.exists() else log}"
            )
            try:
                if client.get(f"{url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise AssertionError(f"API did not come up within {seconds:.0f} s; see {log}")


class Stack:
    def __init__(self, temporal_address: str, database_url: str, task_queue: str, logs: Path) -> None:
        self.port = free_port()
        self.logs = logs
        self.env = {
            **os.environ,
            "TEMPORAL_ADDRESS": temporal_address,
            "DATABASE_URL": database_url,
            "NUDGEFLOW_TASK_QUEUE": task_queue,
            "NUDGEFLOW_API_PORT": str(self.port),
            "NUDGEFLOW_DEMO_API_KEY": "demo-key",
        }
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "ab")
        self._logs.append(log)
        merged = {**self.env, **(env or {})}
        return subprocess.Popen(argv, cwd=ROOT, env=merged, stdout=log, stderr=subprocess.STDOUT)

    def start_api(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]
        self.api = self._spawn("api", argv)
        wait_healthy(self.url, self.logs / "api.log")

    def start_worker(
        self, sandboxed: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        env = {"NUDGEFLOW_WORKFLOW_SANDBOX": "true" if sandboxed else "false", **(env or {})}
        worker = self._spawn(f"worker-{len(self.workers)}", [sys.executable, "worker.py"], env)
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker: subprocess.Popen[bytes]) -> None:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)

    def stop(self) -> None:
        for process in [*self.workers, self.api]:
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for log in self._logs:
            log.close()
