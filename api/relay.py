"""From the store to the workflows: every accepted event reaches its lifecycle, in order, fairly.

`POST /v1/events` commits each event with its payload (the outbox row in `inbound_events`) before it
answers 202, so an accepted event is never lost. The row is leased to this relay as it is stored.
Then:

- when the tenant has nothing queued and few requests are signalling, the request itself signals
  the workflow and answers after it: a quiet system has started the lifecycle by the time the
  backend hears 202 (if Temporal takes longer than `INLINE_BUDGET`, the relay takes over);
- otherwise the request queues its events here and answers at once. `concurrency` senders signal
  the queued workflows, tenants taking turns (a tenant with thousands queued waits its turn like one
  with a single event), each workflow's events in the order they were accepted. How many senders
  signal at once adapts (`Pace`): more while a backlog waits and Temporal answers quickly, fewer as
  soon as requests slow down: a burst's requests are answered first, then the backlog drains as
  fast as Temporal takes signals.

Temporal away (no connection, a timeout) is waited out with backoff, however long. Temporal
*refusing* an event (too big, an id over its limits, a payload it cannot encode) is counted on the
event's row; after `max_refusals` the event is dead: kept with the reason for staff
(`GET /v1/events/dead`, `nudgeflow_relay_dead_letters_total`), and the workflow's later events go on.

Several API processes share one outbox. Each relay delivers only what it holds a lease on
(store/events.py), renews its leases while it holds the events, and lets them go when it stops.
Events a process held when it died wait for its lease to run out; the sweep of any process then
takes them, at start and every `sweep_every` seconds, tenants in turn (and, after a restart,
workflows Temporal refused before after the fresh ones). The sweep also picks up what did not fit
in memory (`MAX_BACKLOG`, `TENANT_BACKLOG`). A workflow drops an event id it has seen, so a second
delivery of one event has no effect.

A lifecycle starts with its tenant's settings in its input (read here, kept `SETTINGS_TTL`, dropped
at once when this process saves new ones), so its first workflow task need not fetch them.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import os
import socket
import time
import uuid
from collections import Counter as Tally
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta

from prometheus_client import Counter, Gauge
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

import tracing
from domain.events import DomainEvent
from domain.settings import TenantSettings
from store import InboundEventKey, Lease, PendingEvent, Store
from store.tables import utcnow
from workflows.routes import Route, route_to, signal_with_start

log = logging.getLogger(__name__)
BACKLOG = Gauge("nudgeflow_relay_backlog", "Accepted events waiting for the relay")
REFUSALS = Counter("nudgeflow_relay_refusals_total", "Times Temporal refused an accepted event")
DEAD_LETTERS = Counter(
    "nudgeflow_relay_dead_letters_total", "Events dead-lettered after Temporal refused them too often"
)

# How long a request waits for Temporal before it leaves its events to the relay and answers.
INLINE_BUDGET = 2.0
SWEEP_EVERY = 5.0
LEASE = timedelta(seconds=60)
MAX_REFUSALS = 5
FIRST_RETRY, LAST_RETRY = 0.5, 30.0
SETTINGS_TTL = 10.0
# Past this many events in memory (a long outage), new ones wait in the store for the sweep; one
# tenant holds at most TENANT_BACKLOG of them, so a flood from one leaves room for the others.
MAX_BACKLOG = 10_000
TENANT_BACKLOG = 1_000
# Events of one workflow signalled in one turn before the next tenant's turn.
TURN = 20
# Temporal's answers that mean "never this event", not "not now".
REFUSED = frozenset({RPCStatusCode.INVALID_ARGUMENT})
# The senders' pace (Pace): at most this many; reconsidered this often (seconds); a signal slower
# than SIGNAL_SLOW means Temporal is queueing them, a request's store work slower than REQUEST_SLOW
# that the API is starved; an observation older than FRESH no longer counts (nobody is waiting).
MOST_SENDERS = 16
PACE_EVERY = 0.25
SIGNAL_SLOW = 0.3
REQUEST_SLOW = 0.25
FRESH = 1.0
SENDERS = Gauge("nudgeflow_relay_senders", "Relay senders signalling workflows at once")
# When this request took its lease: deliver() then knows how long the request's store work took.
_REQUEST_BEGAN: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "relay_request_began", default=None
)

Key = tuple[str, str]


@dataclass(frozen=True)
class Accepted:
    """An event committed to the store, on its way to its workflow."""

    tenant: str
    route: Route
    event: DomainEvent
    # The trace of the request that accepted it (W3C headers; empty when not tracing).
    trace: dict[str, str] = field(default_factory=tracing.carrier, compare=False)

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


@dataclass
class Pace:
    """How many senders signal at once: as many as Temporal takes while the requests stay quick.

    Reconsidered every PACE_EVERY: requests slower than `request_slow` halve it (a burst's requests
    come first); signals slower than `signal_slow` take one away (Temporal queues them: more would
    only wait longer); else, while more events wait than senders signal, one more. Never fewer than
    `least` (the configured concurrency), never more than `most`.
    """

    least: int
    most: int = MOST_SENDERS
    signal_slow: float = SIGNAL_SLOW
    request_slow: float = REQUEST_SLOW
    senders: int = 0

    def __post_init__(self) -> None:
        self.most = max(self.most, self.least)
        self.senders = self.senders or self.least

    def adjust(self, backlog: int, signal_s: float | None, request_s: float | None) -> int:
        """The number of senders from now on, given the events waiting and the recent latencies."""
        if request_s is not None and request_s > self.request_slow:
            self.senders = max(self.least, self.senders // 2)
        elif signal_s is not None and signal_s > self.signal_slow:
            self.senders = max(self.least, self.senders - 1)
        elif backlog > self.senders:
            self.senders = min(self.most, self.senders + 1)
        return self.senders


class Latency:
    """A moving average of recent durations; None once nothing was observed for FRESH seconds."""

    def __init__(self, weight: float = 0.2) -> None:
        self._weight, self._mean, self._at = weight, 0.0, -FRESH

    def observe(self, seconds: float) -> None:
        fresh = time.monotonic() - self._at < FRESH
        self._mean = self._mean + self._weight * (seconds - self._mean) if fresh else seconds
        self._at = time.monotonic()

    @property
    def recent(self) -> float | None:
        return self._mean if time.monotonic() - self._at < FRESH else None


def refused(exc: BaseException) -> bool:
    """Temporal will never take this event: retrying it is pointless, unlike an outage."""
    if isinstance(exc, RPCError):
        return exc.status in REFUSED
    # The client could not encode it (a lone surrogate): nothing reached Temporal at all.
    return isinstance(exc, ValueError | TypeError)


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
        lease: timedelta = LEASE,
        max_refusals: int = MAX_REFUSALS,
        task_timeout: timedelta | None = None,
        most_senders: int = MOST_SENDERS,
    ) -> None:
        self._client, self._task_queue, self._store = client, task_queue, store
        self._task_timeout = task_timeout
        # The sweep renews the leases too: several times a lease, so one slow store call loses none.
        self._inline_limit, self._sweep_every = inline, min(sweep_every, lease.total_seconds() / 4)
        self._lease, self._max_refusals = lease, max_refusals
        self.owner = _owner()
        self._pace = Pace(least=concurrency, most=most_senders)
        self._paced_at = 0.0
        self._signals, self._requests = Latency(), Latency()
        self._inline = 0
        # Workflow id -> its events in order; tenant -> its workflows ready to be signalled, in turn;
        # the tenants with a workflow ready, round robin. A workflow being signalled or waiting to
        # retry is in `_queues` but not ready.
        self._queues: dict[str, deque[Accepted]] = {}
        self._ready: dict[str, deque[str]] = {}
        self._turns: deque[str] = deque()
        self._held: Tally[str] = Tally()
        self._retry: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._senders: list[asyncio.Task[None]] = []
        self._timers: dict[str, asyncio.TimerHandle] = {}
        # Until when every lease this relay holds is surely still its own (renewed by the sweep).
        self._leases_good_until = time.monotonic() + self._safe(lease)
        self._settings: dict[str, tuple[float, TenantSettings]] = {}

    @property
    def backlog(self) -> int:
        """Events held in memory on their way to their workflows."""
        return sum(self._held.values())

    def lease(self, tenant: str | None = None) -> Lease | None:
        """The lease new events are stored under so that this relay delivers them.

        None when this relay holds all it may of the tenant's events: those stay free in the store
        and the sweep of whichever process has room takes them.
        """
        if tenant is not None and not self._has_room(tenant):
            return None
        _REQUEST_BEGAN.set(time.monotonic())
        return Lease(owner=self.owner, until=utcnow() + self._lease)

    def _has_room(self, tenant: str) -> bool:
        return self._held[tenant] < TENANT_BACKLOG and self.backlog < MAX_BACKLOG

    async def deliver(self, events: list[Accepted], *, leased: bool = False) -> set[Key]:
        """Signal now when idle, else queue; the keys of events whose lifecycle had already ended.

        `leased`: the events were stored under this relay's lease (`lease`); else it takes them
        first, and leaves those another process holds to that process.
        """
        began = _REQUEST_BEGAN.get()
        if began is not None:  # a request's store work, from its lease to here
            _REQUEST_BEGAN.set(None)
            self._requests.observe(time.monotonic() - began)
        if not events:
            return set()
        if not leased:
            events = await self._take(events)
            if not events:
                return set()
        if any(self._held[accepted.tenant] for accepted in events) or self._inline >= self._inline_limit:
            self._enqueue(events)
            return set()
        self._inline += 1
        batches = _by_workflow(events)
        try:
            sent = asyncio.gather(*(self._send(batch) for batch in batches))
            outcomes = await asyncio.wait_for(sent, INLINE_BUDGET)
        except Exception as exc:
            log.warning("delivery failed (%s); %d events queued for retry", type(exc).__name__, len(events))
            self._enqueue(events)
            return set()
        finally:
            self._inline -= 1
        ended: set[Key] = set()
        for batch, (delivered, ignored, failure) in zip(batches, outcomes, strict=True):
            ended.update(accepted.key for accepted in ignored)
            if failure is not None:  # the rest of that workflow's events go through the queue
                self._enqueue(batch[len(delivered) :])
        return ended

    async def run(self) -> None:
        """Sweep the store for events nobody is delivering, until cancelled; then stop the deliveries."""
        try:
            while True:
                try:
                    await self.sweep()
                except Exception:
                    log.exception("relay sweep failed; trying again in %.0f s", self._sweep_every)
                await asyncio.sleep(self._sweep_every)
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Stop delivering; what was held stays in the store, free at once for the next process."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in self._senders:
            task.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)
        self._senders.clear()
        try:
            await self._store.release_leases(self.owner)
        except Exception as exc:  # the store is away: the leases run out by themselves
            log.warning("could not release the relay's leases (%s)", type(exc).__name__)

    # Taking events from the store

    async def sweep(self) -> None:
        """Renew the leases on what this relay holds, then take what nobody holds, as room allows."""
        await self._renew()
        room = MAX_BACKLOG - self.backlog
        if room <= 0:
            return
        full = [tenant for tenant, held in self._held.items() if held >= TENANT_BACKLOG]
        lease = Lease(owner=self.owner, until=utcnow() + self._lease)
        taken = await self._store.take_events(lease, per_tenant=TENANT_BACKLOG, limit=room, skip_tenants=full)
        found = [accepted for accepted in [await self._accepted(p) for p in taken] if accepted is not None]
        if found:
            log.info("relay took %d undelivered events from the store", len(found))
            self._enqueue(found)

    async def _renew(self) -> None:
        began = time.monotonic()
        await self._store.renew_leases(Lease(owner=self.owner, until=utcnow() + self._lease))
        self._leases_good_until = began + self._safe(self._lease)

    @staticmethod
    def _safe(lease: timedelta) -> float:
        # Stop signalling a quarter of a lease before it could run out: a slow call stays inside it.
        return lease.total_seconds() * 0.75

    async def _take(self, events: list[Accepted]) -> list[Accepted]:
        taken: set[tuple[str, Key]] = set()
        for tenant, group in itertools.groupby(
            sorted(events, key=lambda a: a.tenant), key=lambda a: a.tenant
        ):
            room = min(TENANT_BACKLOG - self._held[tenant], MAX_BACKLOG - self.backlog)
            lease = self.lease(tenant)
            if lease is None:
                continue  # no room: they wait, free, in the store
            # Beyond the room, too, they wait in the store.
            keys = await self._store.lease_events(tenant, [a.key for a in group][:room], lease)
            taken.update((tenant, key) for key in keys)
        return [accepted for accepted in events if (accepted.tenant, accepted.key) in taken]

    async def _accepted(self, pending: PendingEvent) -> Accepted | None:
        target = route_to(pending.tenant, pending.workflow_id)
        try:
            if target is None:
                raise ValueError(f"no lifecycle of kind {pending.workflow_id.split(':', 1)[0]!r}")
            return Accepted(pending.tenant, target, DomainEvent.model_validate(pending.payload))
        except ValueError as exc:
            # Stored by an older or broken version: no workflow can take it, now or later.
            reason = f"stored event is unusable: {str(exc)[:500]}"
            log.error("relay dead-letters %s/%s: %s", pending.tenant, pending.event_id, reason)
            await self._store.bury_event(pending.tenant, (pending.source, pending.event_id), reason)
            DEAD_LETTERS.inc()
            return None

    # The queue: tenants in turn, each workflow's events in order

    def _enqueue(self, events: Iterable[Accepted]) -> None:
        for accepted in events:
            workflow_id = accepted.route.workflow_id
            queue = self._queues.get(workflow_id)
            if queue is None:
                queue = self._queues[workflow_id] = deque()
                self._make_ready(workflow_id, accepted.tenant)
            queue.append(accepted)
            self._held[accepted.tenant] += 1
        self._start_senders()
        BACKLOG.set(self.backlog)

    def _start_senders(self) -> None:
        while len(self._senders) < self._pace.senders:
            self._senders.append(asyncio.create_task(self._sender()))
        SENDERS.set(len(self._senders))

    def _repace(self) -> bool:
        """Reconsider the pace now and then; whether the calling sender is one too many."""
        now = time.monotonic()
        if now - self._paced_at >= PACE_EVERY:
            self._paced_at = now
            self._pace.adjust(self.backlog, self._signals.recent, self._requests.recent)
            self._start_senders()
        current = asyncio.current_task()
        if len(self._senders) > self._pace.senders and current in self._senders:
            self._senders.remove(current)
            SENDERS.set(len(self._senders))
            return True
        return False

    def _make_ready(self, workflow_id: str, tenant: str) -> None:
        ready = self._ready.get(tenant)
        if ready is None:
            ready = self._ready[tenant] = deque()
            self._turns.append(tenant)
        ready.append(workflow_id)
        self._wake.set()

    def _later(self, workflow_id: str, tenant: str, delay: float) -> None:
        def wake() -> None:
            self._timers.pop(workflow_id, None)
            self._make_ready(workflow_id, tenant)

        self._timers[workflow_id] = asyncio.get_running_loop().call_later(delay, wake)

    async def _next(self) -> str:
        while not self._turns:
            self._wake.clear()
            await self._wake.wait()
        tenant = self._turns.popleft()
        ready = self._ready[tenant]
        workflow_id = ready.popleft()
        if ready:
            self._turns.append(tenant)  # its next workflow waits for the other tenants' turns
        else:
            del self._ready[tenant]
        return workflow_id

    async def _sender(self) -> None:
        while not self._repace():
            workflow_id = await self._next()
            queue = self._queues.get(workflow_id)
            if not queue:
                continue
            tenant = queue[0].tenant
            try:
                delay = await self._serve(workflow_id, queue)
            except Exception as exc:
                # The store is away (reading settings, settling): like Temporal away, wait it out.
                delay = self._backoff(workflow_id)
                log.warning(
                    "relay to %s failed (%s); retry in %.1f s", workflow_id, type(exc).__name__, delay
                )
            if self._queues.get(workflow_id) is not queue:
                continue  # let go meanwhile (_drop_everything)
            if not queue:
                del self._queues[workflow_id]
                self._retry.pop(workflow_id, None)
            elif delay:
                self._later(workflow_id, tenant, delay)
            else:
                self._make_ready(workflow_id, tenant)
            BACKLOG.set(self.backlog)

    async def _serve(self, workflow_id: str, queue: deque[Accepted]) -> float:
        """Signal one turn's worth of a workflow's events; seconds until its next turn may start."""
        if time.monotonic() > self._leases_good_until:
            # The leases were not renewed in time (the store was away): another process may hold
            # these events by now. Let go of them all; the sweep takes back whatever is still free.
            self._drop_everything()
            return 0
        batch = list(itertools.islice(queue, TURN))
        delivered, ignored, failure = await self._send(batch)
        self._forget(queue, len(delivered) + len(ignored))
        if failure is None:
            self._retry.pop(workflow_id, None)
            return 0
        head = queue[0]
        if not refused(failure):
            delay = self._backoff(workflow_id)
            log.warning(
                "relay to %s failed (%s); retry in %.1f s", workflow_id, type(failure).__name__, delay
            )
            return delay
        REFUSALS.inc()
        reason = f"{type(failure).__name__}: {str(failure)[:500]}"
        attempts, dead = await self._store.refuse_event(head.tenant, head.key, reason, self._max_refusals)
        if dead or attempts == 0:
            self._forget(queue, 1)  # dead (its workflow's next event goes at once), or settled elsewhere
            if dead:
                DEAD_LETTERS.inc()
                log.error(
                    "relay dead-letters %s/%s after %d refusals: %s",
                    head.tenant,
                    head.event.id,
                    attempts,
                    reason,
                )
            return 0
        return min(FIRST_RETRY * 2.0 ** (attempts - 1), LAST_RETRY)

    def _forget(self, queue: deque[Accepted], count: int) -> None:
        for _ in range(count):
            self._held[queue.popleft().tenant] -= 1
        self._held += Tally()  # drop tenants down to zero

    def _backoff(self, workflow_id: str) -> float:
        delay = self._retry.get(workflow_id, FIRST_RETRY)
        self._retry[workflow_id] = min(delay * 2, LAST_RETRY)
        return delay

    def _drop_everything(self) -> None:
        log.warning("relay leases lapsed; %d events left to the sweep", self.backlog)
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._queues.clear()
        self._ready.clear()
        self._turns.clear()
        self._held.clear()
        self._retry.clear()
        # A new name: the old leases are never renewed again, so they run out and the sweep (this
        # process's too) takes back whatever nobody else took meanwhile.
        self.owner = _owner()

    # Signalling

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

    async def _send(
        self, batch: list[Accepted]
    ) -> tuple[list[Accepted], list[Accepted], BaseException | None]:
        """Signal one workflow's events in order until one fails, and settle them in the store.

        What was delivered, what was ignored (its lifecycle had ended), and the failure that stopped
        it at the first event of neither.
        """
        tenant, target = batch[0].tenant, batch[0].route
        settings = await self._tenant_settings(tenant)
        target = replace(target, input=target.input.model_copy(update={"settings": settings}))
        delivered: list[Accepted] = []
        ignored: list[Accepted] = []
        failure: BaseException | None = None
        for accepted in batch:
            began = time.monotonic()
            try:
                with tracing.relaying(accepted.trace, accepted.event.type):
                    running = await signal_with_start(
                        self._client, self._task_queue, target, [accepted.event], self._task_timeout
                    )
                self._signals.observe(time.monotonic() - began)
            except Exception as exc:
                failure = exc
                break
            if not running:
                ignored = batch[len(delivered) :]
                break
            delivered.append(accepted)
        if delivered:
            await self._store.mark_events(tenant, [a.key for a in delivered], "routed")
        if ignored:
            await self._store.mark_events(tenant, [a.key for a in ignored], "ignored")
        return delivered, ignored, failure


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _by_workflow(events: list[Accepted]) -> list[list[Accepted]]:
    batches: dict[str, list[Accepted]] = {}
    for accepted in events:
        batches.setdefault(accepted.route.workflow_id, []).append(accepted)
    return list(batches.values())
