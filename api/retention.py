"""Outbox payload retention: a delivered event's payload (names, phones) is forgotten after a while.

Every API process runs it (the purge is one idempotent UPDATE); `cli.py purge-payloads` does the same
by hand. The rows stay: they still dedupe a redelivered id.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from store import Store

log = logging.getLogger("nudgeflow.retention")
EVERY = timedelta(hours=1)


async def purge_forever(store: Store, keep: timedelta, every: timedelta = EVERY) -> None:
    """Until cancelled: forget the payloads of events settled longer than `keep` ago, now and then."""
    while True:
        try:
            purged = await store.purge_event_payloads(datetime.now(UTC) - keep)
            if purged:
                log.info("forgot %d delivered event payloads older than %s", purged, keep)
        except Exception:  # the store is away: next time
            log.warning("payload retention could not run; trying again in %s", every)
        await asyncio.sleep(every.total_seconds())
