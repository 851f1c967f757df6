"""Group commit: writes from concurrent callers share one transaction, so one commit and one fsync.

SQLite has one writer at a time and every commit waits for the disk; PostgreSQL pays a round trip
and a WAL flush per commit. Under a burst (the morning's events, the 09:00 reminders) each caller
would queue for its own commit. Here a caller's write joins whatever is waiting while the previous
commit is in flight, and every caller still returns only after its write is durable, so nothing a
caller was told is ever lost. If a batch fails, each write is retried alone: one caller's error
(a constraint, a deadlock) never becomes another's.

Writes of one kind can go further (`Together`): the batch runs all of them as one set of statements,
so ten requests' claims are one INSERT, not ten. Under a burst the API's batch flushes that much
sooner, and the next requests wait that much less (bench/PROPOSALS.md, eighth round).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.write_lock import WriteLock

T = TypeVar("T")
A = TypeVar("A")
MAX_BATCH = 64


@dataclass(frozen=True)
class Together(Generic[A, T]):
    """A write the batch runs in one go with the others of its `kind`: `run_all` gets their `args`
    in the callers' order and gives back each one's result, in that order."""

    kind: Hashable
    args: A
    run_all: Callable[[AsyncSession, list[A]], Awaitable[list[T]]]


# A write alone (it gets the batch's session) or one of a kind (Together).
Write = Callable[[AsyncSession], Awaitable[Any]] | Together[Any, Any]


class GroupCommit:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        max_batch: int = MAX_BATCH,
        lock: WriteLock | None = None,
    ) -> None:
        self._sessions = sessions
        self._max_batch = max_batch
        # SQLite: the batch waits its turn among the processes writing the file (store/write_lock.py).
        self._lock = lock
        self._waiting: list[tuple[Write, asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def run(self, write: Callable[[AsyncSession], Awaitable[T]] | Together[Any, T]) -> T:
        """Run `write` in a transaction shared with the writes waiting now; its result once committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append((write, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        batch: list[tuple[Write, asyncio.Future[Any]]] = []
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._commit(batch)
        except BaseException:
            # Cancelled with the event loop: no caller may wait forever for a commit that never comes.
            for _, future in batch + self._waiting:
                future.cancel()
            self._waiting.clear()
            raise

    async def _commit(self, batch: list[tuple[Write, asyncio.Future[Any]]]) -> None:
        try:
            async with self._lock.held() if self._lock else nullcontext(), self._sessions.begin() as session:
                results = await _run(session, [write for write, _ in batch])
        except Exception as exc:
            if len(batch) > 1:
                for item in batch:
                    await self._commit([item])
            elif not batch[0][1].done():
                batch[0][1].set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


async def _run(session: AsyncSession, writes: list[Write]) -> list[Any]:
    """Each write's result, in order; the `Together` ones of a kind in one call. The callers are
    concurrent (each has one write waiting), so any order of their writes is one they could have had."""
    results: list[Any] = [None] * len(writes)
    kinds: dict[Hashable, list[tuple[int, Together[Any, Any]]]] = {}
    for index, write in enumerate(writes):
        if isinstance(write, Together):
            kinds.setdefault(write.kind, []).append((index, write))
        else:
            results[index] = await write(session)
    for group in kinds.values():
        together = await group[0][1].run_all(session, [write.args for _, write in group])
        for (index, _), result in zip(group, together, strict=True):
            results[index] = result
    return results
