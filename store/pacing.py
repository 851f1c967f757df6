"""Provider pacing shared by every worker: one row per sender (a bot, a number, a project) in the store.

Each row holds the moment its next message may leave (GCRA's "theoretical arrival time", in epoch
seconds). A send reserves the next free moment of every bucket it passes through (the bot and the
chat) in one transaction and pushes them on by one interval each, so workers on any number of hosts
take turns from the same row and never exceed its rate together. A reservation too far ahead to wait
for in the attempt is kept as a ticket under the message's key: its next attempt, whenever it comes,
goes at that moment instead of queueing again at the back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Float, String, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from store.tables import Base, insert_for

if TYPE_CHECKING:
    from store.db import Store

# A ticket whose moment passed this long ago belongs to an attempt that did not go; a new one is taken.
# A retry that comes back late (a busy Temporal) keeps its place: the calls' own bucket spreads those.
TICKET_GRACE = 600.0
# Tickets of messages that never came back for them (cancelled, expired) are forgotten after this.
TICKET_KEPT = 3600.0


class PacingBucketRow(Base):
    """A sender's pace: when its next message may leave."""

    __tablename__ = "pacing_buckets"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float)


class PacingTicketRow(Base):
    """A moment reserved for one message on one channel, for an attempt that comes back later."""

    __tablename__ = "pacing_tickets"

    ticket: Mapped[str] = mapped_column(String(600), primary_key=True)
    slot_at: Mapped[float] = mapped_column(Float, index=True)


@dataclass(frozen=True)
class Pace:
    """A bucket a message passes through: its key (no secret, no address in it) and its rate."""

    key: str
    per_second: float
    # How many rate units this message uses (a three-segment SMS on a long code uses three).
    weight: float = 1.0

    @property
    def interval(self) -> float:
        return self.weight / self.per_second


async def reserve(
    session: AsyncSession, paces: Sequence[Pace], ticket: str, now: float, max_wait: float
) -> float:
    """The moment this message may go. Within `max_wait` the caller goes then (the ticket is used);
    later, the moment is kept as a ticket for the message's next attempt."""
    held = await session.get(PacingTicketRow, ticket)
    if held is not None and held.slot_at >= now - TICKET_GRACE:
        slot = held.slot_at
    else:
        slot = await _take(session, paces, now)
    if slot - now <= max_wait:
        if held is not None:
            await session.delete(held)
        return slot
    if held is None:
        session.add(PacingTicketRow(ticket=ticket, slot_at=slot))
        # Forget the tickets nobody came back for (messages cancelled while they waited).
        await session.execute(delete(PacingTicketRow).where(PacingTicketRow.slot_at < now - TICKET_KEPT))
    else:
        held.slot_at = slot
    await session.flush()
    return slot


async def _take(session: AsyncSession, paces: Sequence[Pace], now: float) -> float:
    """Reserve the first moment free in every bucket, and move each bucket one interval past it."""
    if not paces:
        return now
    keys = sorted({pace.key for pace in paces})  # one lock order everywhere: no deadlock between workers
    await session.execute(
        insert_for(session, PacingBucketRow)
        .values([{"key": key, "next_at": 0.0} for key in keys])
        .on_conflict_do_nothing(index_elements=["key"])
    )
    rows = await session.execute(
        select(PacingBucketRow.key, PacingBucketRow.next_at)
        .where(PacingBucketRow.key.in_(keys))
        .order_by(PacingBucketRow.key)
        .with_for_update()
    )
    next_at = {key: at for key, at in rows}
    slot = max([now, *next_at.values()])
    for pace in paces:
        await session.execute(
            update(PacingBucketRow)
            .where(PacingBucketRow.key == pace.key)
            .values(next_at=slot + pace.interval)
        )
    return slot


async def hold_back(session: AsyncSession, key: str, until: float) -> None:
    """The provider asked us to wait (429 with Retry-After): nothing leaves this bucket before `until`."""
    await session.execute(
        insert_for(session, PacingBucketRow)
        .values(key=key, next_at=0.0)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    await session.execute(
        update(PacingBucketRow)
        .where(PacingBucketRow.key == key, PacingBucketRow.next_at < until)
        .values(next_at=until)
    )


async def next_free(session: AsyncSession, key: str) -> float | None:
    """When the bucket's next message may leave (tests, the console); None if it never sent."""
    row = await session.get(PacingBucketRow, key)
    return row.next_at if row is not None else None


class PacingStore:
    """The pacing rows of a Store, through its group commit (one transaction for many sends)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def reserve(self, paces: Sequence[Pace], ticket: str, now: float, max_wait: float) -> float:
        return await self._store._group.run(lambda session: reserve(session, paces, ticket, now, max_wait))

    async def take(self, paces: Sequence[Pace], now: float) -> float:
        """The next free moment of these buckets, taken now (no ticket: the caller goes then)."""
        return await self._store._group.run(lambda session: _take(session, paces, now))

    async def hold_back(self, key: str, until: float) -> None:
        await self._store._group.run(lambda session: hold_back(session, key, until))

    async def next_free(self, key: str) -> float | None:
        async with self._store._sessions() as session:
            return await next_free(session, key)
