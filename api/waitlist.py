"""`waitlist.joined` / `waitlist.left`: store-only events that change who is offered a freed slot."""

from __future__ import annotations

from datetime import UTC, datetime

from api.cloudevents import ParsedEvent
from domain.events import WaitlistJoined, WaitlistLeft
from store import Store, Waitlist


async def record_waitlist(store: Store, tenant: str, events: list[ParsedEvent]) -> None:
    """Apply newly accepted waitlist events in order; an entry's place is its `time` (or now)."""
    waitlist = Waitlist(store.engine)
    for event in events:
        at = event.envelope.time or datetime.now(UTC)
        if isinstance(event.data, WaitlistJoined):
            await waitlist.join(tenant, event.data, at)
        elif isinstance(event.data, WaitlistLeft):
            await waitlist.leave(tenant, event.data.entry_id, at)
