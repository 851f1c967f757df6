"""From the store to the workflows: every accepted event reaches its lifecycle, in order.

`POST /v1/events` commits each event with its payload (the outbox row in `inbound_events`) before it
answers 202, so an accepted event is never lost. Then:

- when the relay is idle, the request itself signals the workflow and answers after it: a quiet
  system has started the lifecycle by the time the backend hears 202 (if Temporal takes longer
  than `INLINE_BUDGET`, the relay takes over and the request answers);
- under a burst (events already queued, or `inline` requests already signalling) or while Temporal
  does not answer, the request only queues the event here and answers at once. The relay signals each
  workflow's events in the order they were accepted, `concurrency` workflows at a time, retries with
  backoff for as long as Temporal is away, and marks each event routed, or ignored when its
  lifecycle had already ended.

A lifecycle starts with its tenant's settings in its input (read here, kept `SETTINGS_TTL`, dropped
at once when this process saves new ones), so its first workflow task need not fetch them.

Events a process accepted but never delivered (it crashed, it was stopped) are found in the store
by the sweep: at start and every `sweep_every` seconds, those older than `grace`. The sweep also
picks up what did not fit in memory (`MAX_BACKLOG`) during a long outage. A workflow drops
an event id it has seen, so a second delivery of one event has no effect.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from prometheus_client import Gauge
from temporalio.client import Client

from domain.events import DomainEvent
from domain.settings import TenantSettings
from store import InboundEventKey, PendingEvent, Store
from workflows.routes import Route, route_to, signal_with_start

log = logging.getLogger(__name__)
BACKLOG = Gauge("nudgeflow_relay_backlog", "Accepted events waiting for the relay")

# How long a request waits for Temporal before it leaves its events to the relay and answers.
INLINE_BUDGET = 2.0
SWEEP_EVERY = 5.0
GRACE = timedelta(seconds=30)
FIRST_RETRY, LAST_RETRY = 0.5, 30.0
SETTINGS_TTL = 10.0
# Past this many events in memory (a long outage), new ones wait in the store for the sweep.
MAX_BACKLOG = 10_000

Key = tuple[str, str]


@dataclass(frozen=True)
class Accepted:
    """An event committed to the store, on its way to its workflow."""

    tenant: str
    route: Route
    event: DomainEvent

    @property
    def key(self) -> Key:
        return (self.event.source, self.event.id)

    def outbox_row(self, subject: str | None = None) -> InboundEventKey:
        """What the store keeps of it until it is delivered."""
        return InboundEventKey(
            source=self.event.source,
            event_id=self.event.id,
            type=self.event.type,
            subject=subject,
            workflow_id=self.route.workflow_id,
            payload=self.event.model_dump(mode="json"),
        )


class Relay:
    def __init__(
        self,
        client: Client,
        task_queue: str,
        store: Store,
        *,
        inline: int,
        concurrency: int,
        sweep_every: float = SWEEP_EVERY,
        grace: timedelta = GRACE,
        task_timeout: timedelta | None = None,
    ) -> None:
        self._client, self._task_queue, self._store = client, task_queue, store
        self._task_timeout = task_timeout
        self._inline_limit, self._sweep_every, self._grace = inline, sweep_every, grace
        self._inline = 0
        self._slots = asyncio.Semaphore(concurrency)
        self._queues: dict[str, list[Accepted]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: set[tuple[str, Key]] = set()
        self._settings: dict[str, tuple[float, TenantSettings]] = {}

    @property
    def backlog(self) -> int:
        """Events held in memory on their way to their workflows."""
        return len(self._held)

    async def deliver(self, events: list[Accepted]) -> set[Key]:
        """Signal now when idle, else queue; the keys of events whose lifecycle had already ended."""
        if not events:
            return set()
        if self._queues or self._inline >= self._inline_limit:
            self._enqueue(events)
            return set()
        self._inline += 1
        try:
            signalled = asyncio.gather(*(self._signal(batch) for batch in _by_workflow(events)))
            ended = await asyncio.wait_for(signalled, INLINE_BUDGET)
        except Exception as exc:
            log.warning("delivery failed (%s); %d events queued for retry", type(exc).__name__, len(events))
            self._enqueue(events)
            return set()
        finally:
            self._inline -= 1
        return {event.key for batch in ended for event in batch}

    async def run(self) -> None:
        """Sweep the store for events nobody is delivering, until cancelled; then stop the deliveries."""
        grace = timedelta(0)  # at start, everything left received is ours to deliver
        try:
            while True:
                try:
                    await self._sweep(grace)
                except Exception:
                    log.exception("relay sweep failed; trying again in %.0f s", self._sweep_every)
                grace = self._grace
                await asyncio.sleep(self._sweep_every)
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Stop delivering; what was held stays in the store for the next process."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _sweep(self, grace: timedelta) -> None:
        if self.backlog >= MAX_BACKLOG:
            return
        pending = await self._store.pending_events(datetime.now(UTC) - grace, limit=MAX_BACKLOG)
        found = [
            accepted
            for accepted in map(_accepted, pending)
            if accepted is not None and (accepted.tenant, accepted.key) not in self._held
        ]
        if found:
            log.info("relay found %d undelivered events in the store", len(found))
            self._enqueue(found)

    def _enqueue(self, events: Iterable[Accepted]) -> None:
        for accepted in events:
            if self.backlog >= MAX_BACKLOG:
                break  # the rest wait in the store, where the sweep will find them
            workflow_id = accepted.route.workflow_id
            self._held.add((accepted.tenant, accepted.key))
            if workflow_id not in self._queues:
                self._queues[workflow_id] = []
                task = asyncio.create_task(self._drain(workflow_id))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            self._queues[workflow_id].append(accepted)
        BACKLOG.set(self.backlog)

    async def _drain(self, workflow_id: str) -> None:
        """One workflow's queued events, in order, until none are left."""
        queue = self._queues[workflow_id]
        retry = FIRST_RETRY
        while queue:
            batch = list(queue)
            try:
                async with self._slots:
                    await self._signal(batch)
            except Exception as exc:
                # Temporal or the store is away: the events wait here (and in the store), and
                # the slot is free meanwhile, so one workflow that keeps failing stops no other.
                failure = type(exc).__name__
                log.warning("relay to %s failed (%s); retry in %.1f s", workflow_id, failure, retry)
                await asyncio.sleep(retry)
                retry = min(retry * 2, LAST_RETRY)
                continue
            retry = FIRST_RETRY
            del queue[: len(batch)]
            self._held.difference_update((accepted.tenant, accepted.key) for accepted in batch)
            BACKLOG.set(self.backlog)
        del self._queues[workflow_id]

    def forget_settings(self, tenant: str) -> None:
        """The tenant saved new settings: lifecycles started from now on get those."""
        self._settings.pop(tenant, None)

    async def _tenant_settings(self, tenant: str) -> TenantSettings:
        cached = self._settings.get(tenant)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        settings = await self._store.get_settings(tenant)
        self._settings[tenant] = (time.monotonic() + SETTINGS_TTL, settings)
        return settings

    async def _signal(self, batch: list[Accepted]) -> list[Accepted]:
        """Deliver one workflow's events and settle them in the store; those ignored, if it had ended."""
        tenant, target = batch[0].tenant, batch[0].route
        settings = await self._tenant_settings(tenant)
        target = replace(target, input=target.input.model_copy(update={"settings": settings}))
        events = [a.event for a in batch]
        delivered = await signal_with_start(
            self._client, self._task_queue, target, events, self._task_timeout
        )
        await self._store.mark_events(tenant, [a.key for a in batch], "routed" if delivered else "ignored")
        return [] if delivered else batch


def _by_workflow(events: list[Accepted]) -> list[list[Accepted]]:
    batches: dict[str, list[Accepted]] = {}
    for accepted in events:
        batches.setdefault(accepted.route.workflow_id, []).append(accepted)
    return list(batches.values())


def _accepted(pending: PendingEvent) -> Accepted | None:
    target = route_to(pending.tenant, pending.workflow_id)
    if target is None:
        log.error("stored event routes to unknown workflow kind %s", pending.workflow_id.split(":", 1)[0])
        return None
    return Accepted(pending.tenant, target, DomainEvent.model_validate(pending.payload))
