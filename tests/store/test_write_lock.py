"""SQLite's hot writers queue on a file lock across processes; a cancelled waiter never keeps it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from store.write_lock import WriteLock

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold_in_another_process(lock_file: Path, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock_file), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


async def test_a_writer_waits_for_another_process_and_goes_the_moment_it_lets_go(tmp_path: Path) -> None:
    lock = WriteLock(tmp_path / "nudgeflow.db")
    holder = hold_in_another_process(tmp_path / "nudgeflow.db.write-lock", 0.5)
    began = time.monotonic()
    async with lock.held():
        waited = time.monotonic() - began
    holder.communicate()
    lock.close()
    assert waited >= 0.3  # it did wait for the other process
    assert waited < 5  # and was not left sleeping long after


async def test_a_writer_cancelled_while_waiting_does_not_keep_the_lock(tmp_path: Path) -> None:
    lock = WriteLock(tmp_path / "nudgeflow.db")
    holder = hold_in_another_process(tmp_path / "nudgeflow.db.write-lock", 0.3)
    waiter = asyncio.create_task(_enter(lock))
    await asyncio.sleep(0.1)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    holder.communicate()

    await asyncio.wait_for(_enter(lock), timeout=5)
    # Another process can take it too: this one gave it back.
    other = hold_in_another_process(tmp_path / "nudgeflow.db.write-lock", 0)
    other.communicate()
    lock.close()


async def _enter(lock: WriteLock) -> None:
    async with lock.held():
        pass
