"""SlotOfferWorkflow: a freed slot offered to the waitlist until someone takes it (`slot:{tenant}:{slot_id}`).

`slot.freed` starts it. Every `slot_offer_spacing` the next `slot_offer_batch` entries the slot suits
(oldest first, each patient at most `slot_offers_per_day` offers a day) are recorded as offered and
sent the offer through the normal send path; no offer goes within `slot_offer_cutoff` before the
slot (its message expires there). The first `slot.accepted` (a button or an SMS "yes", in the order
this workflow receives them: one workflow per slot is what makes "first" well defined) wins: the
backend hears `slot.claimed` as a signed webhook and the patient is told it is held for them; any
later "yes" hears it is taken. A claim, `slot.taken` or the cut-off ends the offers: sends in flight
are cancelled and every suiting entry not offered yet is recorded skipped with the reason. The
workflow lives until the slot starts, so a late "yes" still gets its answer.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError
from temporalio.workflow import ActivityCancellationType, ActivityHandle

with workflow.unsafe.imports_passed_through():
    from activities.models import LoadSettingsInput, SendMessageInput, SendMessageResult, SettleSendInput
    from activities.send import NudgeActivities, idempotency_key
    from activities.slots import ClaimInput, CloseOffersInput, OfferBatchInput, SlotActivities
    from domain.contacts import Contact
    from domain.events import Appointment, DomainEvent, SlotAccepted, SlotFreed
    from domain.planning import PlannedMessage, StepRecord
    from domain.settings import TenantSettings
    from domain.waitlist import CLAIMED_TEMPLATE, OFFER_TEMPLATE, TAKEN_TEMPLATE, Offer, entry_of, offers_end
    from workflows.inputs import LifecycleInput, LifecycleResult, LifecycleState

LOCAL_TIMEOUT = timedelta(seconds=30)
STORE_TIMEOUT = timedelta(minutes=1)
STORE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
SEND_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
ATTEMPT_TIMEOUT = timedelta(minutes=2)
HEARTBEAT_TIMEOUT = timedelta(seconds=10)
# Retries go on a little past a message's expiry, so the last attempt records it skipped.
EXPIRY_MARGIN = timedelta(minutes=2)
FIRST_EVENT_WAIT = timedelta(days=1)


def workflow_id(tenant: str, slot_id: str) -> str:
    return f"slot:{tenant}:{slot_id}"


@workflow.defn
class SlotOfferWorkflow:
    @workflow.init
    def __init__(self, input: LifecycleInput) -> None:
        self.input = input
        self.settings: TenantSettings | None = input.settings
        self.events: list[DomainEvent] = list(input.events)
        self.seen: set[str] = {*input.seen_ids, *(e.id for e in self.events)}
        self.applied = 0
        self.dirty = True
        self.slot: SlotFreed | None = None
        self.taken = False
        self.accepts: list[SlotAccepted] = []
        self.winner: str | None = None
        self.offered: dict[str, Offer] = {}
        self.capped: set[str] = set()
        self.batches = 0
        self.next_batch_at: datetime | None = None
        self.exhausted = False
        # Why offers stopped (claimed, taken, the cut-off, nobody left, the slot's start).
        self.ended: str | None = None
        self.done: dict[str, StepRecord] = dict(input.done)
        self.sending: dict[str, asyncio.Task[None]] = {}
        self.handles: dict[str, ActivityHandle[SendMessageResult]] = {}
        self.closed = False

    @workflow.signal
    def event(self, event: DomainEvent) -> None:
        if event.id in self.seen:
            return  # a redelivery that raced the API's dedupe
        self.seen.add(event.id)
        self.events.append(event)
        self.dirty = True

    @workflow.query
    def state(self) -> LifecycleState:
        summary: dict[str, Any] = {
            "offered": len(self.offered),
            "batches": self.batches,
            "next_batch_at": self.next_batch_at.isoformat()
            if self.next_batch_at and not self.ended
            else None,
            "winner": self.winner,
            "ended": self.ended,
        }
        if self.slot is not None:
            summary["slot"] = self.slot.model_dump(mode="json")
        return LifecycleState(
            status=self.status,
            done=self.done,
            events=len(self.events),
            closed=self.closed,
            summary=summary,
        )

    @property
    def status(self) -> str:
        if self.slot is None:
            return "starting"
        if self.winner is not None:
            return "claimed"
        if self.taken:
            return "taken"
        return "closed" if self.ended else "offering"

    @workflow.run
    async def run(self, input: LifecycleInput) -> LifecycleResult:
        if self.settings is None:
            self.settings = await workflow.execute_local_activity_method(
                NudgeActivities.load_settings,
                LoadSettingsInput(tenant=input.tenant),
                start_to_close_timeout=LOCAL_TIMEOUT,
            )
        try:
            await workflow.wait_condition(lambda: bool(self.events), timeout=FIRST_EVENT_WAIT)
        except TimeoutError:
            return self.result()
        while True:
            self.dirty = False
            self._apply()
            slot = self.slot
            if slot is None:
                break  # an answer or `slot.taken` with no freed slot: nothing to offer
            now = workflow.now()
            self._answer(now, slot)
            if now >= slot.starts_at:
                break
            stop = self._stop_reason(now, slot)
            if stop is not None and self.ended is None:
                await self._end_offers(stop, slot)
                continue
            if stop is None and (self.next_batch_at is None or now >= self.next_batch_at):
                await self._offer_batch(now, slot)
                continue
            wake_at = slot.starts_at if self.next_batch_at is None or stop else self.next_batch_at
            try:
                await workflow.wait_condition(
                    lambda: self.dirty, timeout=wake_at - now, timeout_summary="next batch or the slot"
                )
            except TimeoutError:
                pass
        if self.slot is not None and self.ended is None:
            await self._end_offers("the slot started", self.slot)
        await workflow.wait_condition(lambda: not self.sending, timeout_summary="sends in flight")
        await workflow.wait_condition(workflow.all_handlers_finished)
        self.closed = True
        return self.result()

    def result(self) -> LifecycleResult:
        statuses = [record.status for record in self.done.values()]
        return LifecycleResult(
            status=self.status,
            sent=statuses.count("sent"),
            skipped=statuses.count("skipped"),
            failed=statuses.count("failed"),
        )

    def _apply(self) -> None:
        for event in self.events[self.applied :]:
            data = event.parsed()
            if isinstance(data, SlotFreed):
                self.slot = self.slot or data  # the first freeing names the slot's time
            elif isinstance(data, SlotAccepted):
                self.accepts.append(data)
            elif event.type == "slot.taken":
                self.taken = True
        self.applied = len(self.events)

    def _stop_reason(self, now: datetime, slot: SlotFreed) -> str | None:
        assert self.settings is not None
        if self.winner is not None:
            return "another patient took the slot first"
        if self.taken:
            return "the clinic filled the slot"
        if now >= offers_end(slot.starts_at, self.settings.slot_offer_cutoff):
            return f"too close to the slot: no offers within {_hours(self.settings.slot_offer_cutoff)} of it"
        if self.exhausted:
            return "nobody on the waitlist is left to ask"
        return None

    def _answer(self, now: datetime, slot: SlotFreed) -> None:
        """The first "yes" to an offer of ours wins; each later one is told the slot is taken."""
        for accept in self.accepts:
            entry = entry_of(accept.step)
            offer = self.offered.get(entry or "")
            if offer is None or entry == self.winner:
                continue  # not an offer of this run, or the winner saying yes again
            if self.winner is None and not self.taken:
                self.winner = offer.entry_id
                self._start_claim(offer, accept, now, slot)
            else:
                self._start_send(self._message(f"taken/{offer.entry_id}", TAKEN_TEMPLATE, offer, now, slot))
        self.accepts.clear()

    async def _offer_batch(self, now: datetime, slot: SlotFreed) -> None:
        assert self.settings is not None
        batch = self.batches + 1
        # A local activity: the batch is picked and its sends scheduled in one workflow task, so
        # nobody reading the workflow between the two sees a slot with nothing in flight.
        found = await workflow.execute_local_activity_method(
            SlotActivities.offer_batch,
            OfferBatchInput(
                tenant=self.input.tenant,
                slot=slot,
                batch=batch,
                size=self.settings.slot_offer_batch,
                per_day=self.settings.slot_offers_per_day,
            ),
            start_to_close_timeout=LOCAL_TIMEOUT,
            retry_policy=STORE_RETRY,
            summary=f"batch {batch}",
        )
        self.batches = batch
        self.next_batch_at = now + self.settings.slot_offer_spacing
        self.capped = (self.capped | set(found.capped)) - {o.entry_id for o in found.offers}
        self.exhausted = not found.offers and not found.more
        expires_at = offers_end(slot.starts_at, self.settings.slot_offer_cutoff)
        for offer in found.offers:
            self.offered[offer.entry_id] = offer
            message = self._message(offer.step, OFFER_TEMPLATE, offer, now, slot, expires_at=expires_at)
            self._start_send(message, cancellable=True)

    async def _end_offers(self, reason: str, slot: SlotFreed) -> None:
        """No more offers: those in flight are cancelled, the ones never made recorded skipped."""
        self.ended = reason
        for step, handle in self.handles.items():
            if entry_of(step) is not None:
                handle.cancel()
        await workflow.execute_activity_method(
            SlotActivities.close_offers,
            CloseOffersInput(
                tenant=self.input.tenant,
                workflow_id=workflow.info().workflow_id,
                episode=self.input.episode,
                slot=slot,
                reason=reason,
                capped=sorted(self.capped),
                cap_reason="the patient had their offers for the day already",
            ),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
            summary="offers ended",
        )

    def _message(
        self,
        step: str,
        template: str,
        offer: Offer,
        now: datetime,
        slot: SlotFreed,
        expires_at: datetime | None = None,
    ) -> SendMessageInput:
        assert self.settings is not None
        message = PlannedMessage(
            step=step,
            template=template,
            audience="patient",
            recipient=offer.contact,
            send_at=now,
            expires_at=expires_at or slot.starts_at,
        )
        return SendMessageInput(
            tenant=self.input.tenant,
            workflow_id=workflow.info().workflow_id,
            subject=f"slot:{slot.slot_id}",
            message=message,
            appointment=_as_appointment(slot, offer.contact),
            episode=self.input.episode,
            default_locale=self.settings.default_locale,
            channel_costs=self.settings.channel_costs,
        )

    def _start_claim(self, offer: Offer, accept: SlotAccepted, now: datetime, slot: SlotFreed) -> None:
        claim = ClaimInput(
            tenant=self.input.tenant,
            workflow_id=workflow.info().workflow_id,
            slot=slot,
            entry_id=offer.entry_id,
            contact_id=offer.contact.id,
            claimed_at=now,
            delivery_id=accept.delivery_id,
        )
        self.sending["claimed"] = asyncio.create_task(self._tell_backend(claim))
        self._start_send(self._message(f"claimed/{offer.entry_id}", CLAIMED_TEMPLATE, offer, now, slot))

    async def _tell_backend(self, claim: ClaimInput) -> None:
        try:
            told = await workflow.execute_activity_method(
                SlotActivities.tell_backend,
                claim,
                start_to_close_timeout=STORE_TIMEOUT,
                schedule_to_close_timeout=max(claim.slot.starts_at - workflow.now(), STORE_TIMEOUT),
                retry_policy=SEND_RETRY,
                summary="slot.claimed",
            )
            status = told.status
        except ActivityError:
            workflow.logger.warning("slot.claimed could not reach the backend")
            status = "failed"
        finally:
            self.sending.pop("claimed", None)
        self.done["claimed"] = StepRecord(at=workflow.now(), status=status)
        self.dirty = True

    def _start_send(self, input: SendMessageInput, cancellable: bool = False) -> None:
        step = input.message.step
        if step in self.done or step in self.sending:
            return
        self.sending[step] = asyncio.create_task(self._send(input, cancellable))

    async def _send(self, input: SendMessageInput, cancellable: bool) -> None:
        step = input.message.step
        expires_at = input.message.expires_at or workflow.now()
        handle = workflow.start_activity_method(
            NudgeActivities.send_message,
            input,
            start_to_close_timeout=ATTEMPT_TIMEOUT,
            schedule_to_close_timeout=max(expires_at - workflow.now(), timedelta(0)) + EXPIRY_MARGIN,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=SEND_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=step,
        )
        if cancellable:
            self.handles[step] = handle
        try:
            result = await handle
            status = result.status
        except ActivityError as error:
            if isinstance(error.cause, CancelledError):
                status = (await self._settle(input)).status
            else:
                workflow.logger.warning("send of %s failed after all retries", step)
                status = "failed"
        finally:
            self.sending.pop(step, None)
            self.handles.pop(step, None)
        self.done[step] = StepRecord(at=workflow.now(), status=status)
        self.dirty = True

    async def _settle(self, input: SendMessageInput) -> SendMessageResult:
        return await workflow.execute_local_activity_method(
            NudgeActivities.settle_send,
            SettleSendInput(idempotency_key=idempotency_key(input), reason=f"offers ended: {self.ended}"),
            start_to_close_timeout=LOCAL_TIMEOUT,
        )


def _as_appointment(slot: SlotFreed, patient: Contact) -> Appointment:
    """The slot as the templates know an appointment: `appointment.starts_at`, doctor, address."""
    return Appointment(
        appointment_id=slot.slot_id,
        patient=patient,
        starts_at=slot.starts_at,
        duration_minutes=slot.duration_minutes,
        service=slot.service,
        doctor=slot.doctor,
        location=slot.location,
    )


def _hours(duration: timedelta) -> str:
    minutes = int(duration.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
