"""The product as separate processes: the API (uvicorn) and workers, against a real dev server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


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
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"API did not come up; see {self.logs / 'api.log'}")

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
