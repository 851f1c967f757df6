"""The send activity's turn at a provider: every worker paces each sender through the store.

Just before a message is claimed `sending`, it reserves its moment in its sender's buckets
(channels/pacing.py, store/pacing.py). A moment later than PACE_SLEEP_AT_MOST ends the attempt with
`Paced`, whose `next_retry_delay` is that moment: nothing was claimed, so the message is certainly
not sent; the lifecycle (or Temporal's retry of a regular activity) comes back then, and the ticket
makes that attempt go at its moment rather than queue again. A nearer moment is waited for after the
claim commits, right before the provider call.

That schedule alone still lets calls bunch: a retry comes back a few seconds after its moment when
Temporal is busy, claims commit in groups (store/group_commit.py), and messages whose moments were
spread out arrive together. So the call itself takes a second turn, in a bucket of calls made
(`<key>:call`, same rate) right before it leaves: arrivals that bunched are spread again, and a
provider's Retry-After holds that bucket back too, so nobody holding an earlier moment calls during
the pause. That wait is cut to what the attempt has left: a call never outlives its attempt (which
could leave it in doubt); at worst the provider answers 429, which is certainly not sent.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from prometheus_client import Counter
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from channels.base import ChannelAdapter, OutgoingMessage
from channels.pacing import PacingConfig, paces, sender_key
from store import Pace, PacingStore, Store

# Waited for inside an attempt; longer, the attempt ends and gives its activity slot back meanwhile.
PACE_SLEEP_AT_MOST = 2.0

PACED = Counter(
    "nudgeflow_send_paced_total",
    "Send attempts that ended to come back at their sender's next free moment",
    ["provider"],
)
HELD_BACK = Counter(
    "nudgeflow_send_held_back_total",
    "Times a provider asked to wait (429 Retry-After) and held its sender back for every worker",
    ["provider"],
)


class Paced(ApplicationError):
    """Not this attempt: the sender's pace gives this message a later moment (retry then)."""

    def __init__(self, message: str, wait: timedelta) -> None:
        super().__init__(
            message, type="Paced", next_retry_delay=wait, category=ApplicationErrorCategory.BENIGN
        )


@dataclass(frozen=True)
class Turn:
    slot: float  # the moment reserved (epoch seconds)
    paces: list[Pace]
    call_by: float  # the last moment this attempt's provider call may start


def calls(paces: list[Pace]) -> list[Pace]:
    return [replace(pace, key=f"{pace.key}:call") for pace in paces]


class Pacer:
    def __init__(self, store: Store, config: PacingConfig | None = None) -> None:
        self.rows = PacingStore(store)
        self.config = config

    async def turn(
        self, adapter: ChannelAdapter, message: OutgoingMessage, ticket: str, call_by: datetime
    ) -> Turn | None:
        """This message's moment (epoch seconds; None: its provider has no pace); Paced when it is
        later than this attempt can wait (`call_by`: the last moment its provider call may start)."""
        found = paces(adapter, message, self.config)
        if not found:
            return None
        now = time.time()
        can_wait = max(0.0, min(PACE_SLEEP_AT_MOST, call_by.timestamp() - now))
        slot = await self.rows.reserve(found, ticket, now, can_wait)
        wait = slot - time.time()
        if slot - now > can_wait:
            PACED.labels(provider=adapter.provider).inc()
            raise Paced(
                f"{adapter.provider}: paced, its turn in {wait:.1f} s", timedelta(seconds=max(wait, 0.0))
            )
        return Turn(slot, found, call_by.timestamp())

    async def wait(self, turn: Turn | None) -> None:
        """Until the moment `turn` gave, then the call's own turn (see the module docstring)."""
        if turn is None:
            return
        if (wait := turn.slot - time.time()) > 0:
            await asyncio.sleep(wait)
        now = time.time()
        slot = await self.rows.take(calls(turn.paces), now)
        if (wait := min(slot, turn.call_by) - time.time()) > 0:
            await asyncio.sleep(wait)

    async def hold_back(self, adapter: ChannelAdapter, message: OutgoingMessage, wait: timedelta) -> None:
        """The provider said "too many, retry after": no worker sends from this sender before then."""
        key = sender_key(paces(adapter, message, self.config))
        if key is None:
            return
        HELD_BACK.labels(provider=adapter.provider).inc()
        until = time.time() + wait.total_seconds()
        await self.rows.hold_back(key, until)
        await self.rows.hold_back(f"{key}:call", until)
