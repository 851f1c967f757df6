"""One writer at a time on a SQLite file, across processes, woken the moment the lock is free.

SQLite lets one connection write at a time; the others retry inside its busy handler, which
sleeps 1, 2, 5, 10 ... up to 100 ms between tries. With the API and the worker both writing, a
request waits out those sleeps long after the lock was released (p50 100 ms for a one-row commit
under a burst, bench/PROPOSALS.md). The hot writers (group commits) take this lock first: an
exclusive `flock` on a file beside the database, which the kernel hands to the next waiter as soon
as it is released, and which dies with its process. SQLite's own locking still guards every write;
this only puts the hot ones in line. PostgreSQL needs none of it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path


class WriteLock:
    def __init__(self, database: Path) -> None:
        self._path = database.with_name(database.name + ".write-lock")
        self._fd: int | None = None
        # flock belongs to the open file, which every task of this process shares: one at a time here.
        self._local = asyncio.Lock()

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        await self._local.acquire()
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: no thread needed
        except BlockingIOError:
            waiting = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX))
            try:
                await asyncio.shield(waiting)
            except BaseException:
                # The thread still gets the lock: only once it has given it back may the next go.
                waiting.add_done_callback(lambda done: self._give_back(fd, done))
                raise
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            self._local.release()

    def _give_back(self, fd: int, done: asyncio.Future[None]) -> None:
        if not done.cancelled() and done.exception() is None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        self._local.release()

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
