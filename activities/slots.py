"""What a slot's workflow asks of the store and the tenant's backend: the next batch of waitlist
entries to offer it to, the offers that will never go (and why), and the signed `slot.claimed`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from temporalio import activity

from activities.direct import Retry
from activities.models import SendMessageInput
from activities.send import idempotency_key
from channels.base import ChannelAdapter, ProviderUnavailable, SendError
from channels.webhook import WebhookAdapter
from domain.contacts import Channel, Contact
from domain.deliveries import DeliveryDraft, DeliveryOutcome, DeliveryStatus
from domain.events import SlotFreed
from domain.planning import PlannedMessage
from domain.waitlist import OFFER_TEMPLATE, Offer, in_turn, offer_step
from store import Store, Waitlist

CLAIMED_EVENT = "slot.claimed"


class OfferBatchInput(BaseModel):
    tenant: str
    slot: SlotFreed
    batch: int
    size: int
    per_day: int


class OfferBatchResult(BaseModel):
    offers: list[Offer] = Field(default_factory=list)
    # Entries the slot suits whose patient had their day's offers already.
    capped: list[str] = Field(default_factory=list)
    # Whether entries the slot suits are still waiting after this batch.
    more: bool = False


class CloseOffersInput(BaseModel):
    """The slot is no longer offered: every suiting entry not offered yet is recorded skipped."""

    tenant: str
    workflow_id: str
    episode: str | None = None
    slot: SlotFreed
    reason: str
    capped: list[str] = Field(default_factory=list)
    cap_reason: str = ""


class CloseOffersResult(BaseModel):
    skipped: int = 0


class ClaimInput(BaseModel):
    tenant: str
    workflow_id: str
    slot: SlotFreed
    entry_id: str
    contact_id: str
    claimed_at: datetime
    # The offer the patient said yes to.
    delivery_id: int | None = None


class ClaimResult(BaseModel):
    status: str
    reason: str | None = None


def local_day(moment: datetime, timezone: str) -> str:
    """The patient's calendar day at `moment`: the daily cap counts their days, not UTC's."""
    return moment.astimezone(ZoneInfo(timezone)).date().isoformat()


class SlotActivities:
    """Activities over the waitlist; the offers themselves go through NudgeActivities.send_message."""

    def __init__(self, store: Store, adapters: Mapping[Channel, ChannelAdapter] | None = None) -> None:
        self.store = store
        self.waitlist = Waitlist(store.engine)
        webhook = (adapters or {}).get(Channel.WEBHOOK)
        self.webhook = webhook if isinstance(webhook, WebhookAdapter) else None

    async def _contacts(self, tenant: str, patient_ids: set[str]) -> dict[str, Contact]:
        found = {pid: await self.store.get_contact(tenant, pid) for pid in sorted(patient_ids)}
        return {pid: contact for pid, contact in found.items() if contact is not None}

    @activity.defn(name="offer_slot_batch")
    async def offer_batch(self, input: OfferBatchInput) -> OfferBatchResult:
        """The next entries to offer the slot to, recorded as offered before any message goes;
        a retry of the same batch answers the same entries."""
        slot_id = input.slot.slot_id
        waiting = in_turn(await self.waitlist.waiting(input.tenant, slot_id), input.slot)
        offered = await self.waitlist.offered(input.tenant, slot_id, input.batch)
        capped: list[str] = []
        if offered:
            entries = await self.waitlist.entries(input.tenant, offered)
        else:
            contacts = await self._contacts(input.tenant, {e.patient_id for e in waiting})
            now = datetime.now(UTC)
            candidates = [
                (entry, local_day(now, contacts[entry.patient_id].timezone))
                for entry in waiting
                if entry.patient_id in contacts
            ]
            offered, capped = await self.waitlist.reserve(
                input.tenant, slot_id, input.batch, candidates, limit=input.size, per_day=input.per_day
            )
            entries = [e for e in waiting if e.entry_id in offered]
        contacts = await self._contacts(input.tenant, {e.patient_id for e in entries})
        offers = [
            Offer(entry_id=e.entry_id, contact=contacts[e.patient_id])
            for e in entries
            if e.patient_id in contacts
        ]
        left = [e for e in waiting if e.entry_id not in offered and e.entry_id not in capped]
        return OfferBatchResult(offers=offers, capped=capped, more=bool(left))

    @activity.defn(name="close_slot_offers")
    async def close_offers(self, input: CloseOffersInput) -> CloseOffersResult:
        """Each suiting entry never offered the slot gets its offer recorded skipped, with why."""
        slot, now = input.slot, datetime.now(UTC)
        waiting = in_turn(await self.waitlist.waiting(input.tenant, slot.slot_id), slot)
        contacts = await self._contacts(input.tenant, {e.patient_id for e in waiting})
        skipped = 0
        for entry in waiting:
            contact = contacts.get(entry.patient_id)
            if contact is None:
                continue
            reason = input.cap_reason if entry.entry_id in input.capped else input.reason
            message = PlannedMessage(
                step=offer_step(entry.entry_id),
                template=OFFER_TEMPLATE,
                audience="patient",
                recipient=contact,
                send_at=now,
            )
            key = idempotency_key(
                SendMessageInput(
                    tenant=input.tenant,
                    workflow_id=input.workflow_id,
                    subject=f"slot:{slot.slot_id}",
                    message=message,
                    episode=input.episode,
                )
            )
            row, _ = await self.store.begin_delivery(
                DeliveryDraft(
                    tenant=input.tenant,
                    idempotency_key=key,
                    subject=f"slot:{slot.slot_id}",
                    workflow_id=input.workflow_id,
                    step=message.step,
                    contact_id=contact.id,
                    template=OFFER_TEMPLATE,
                    scheduled_for=now,
                )
            )
            if row.status == DeliveryStatus.PLANNED:
                await self.store.finish_delivery(
                    row.id, DeliveryOutcome(status=DeliveryStatus.SKIPPED, reason=reason)
                )
                skipped += 1
        return CloseOffersResult(skipped=skipped)

    @activity.defn(name="tell_backend_slot_claimed")
    async def tell_backend(self, input: ClaimInput) -> ClaimResult:
        """`slot.claimed` to the tenant's backend as a signed webhook (channels/webhook.py), recorded
        in the delivery log; the backend books it and posts `appointment.confirmed`."""
        slot = input.slot
        key = f"{input.workflow_id}/claimed"
        row, _ = await self.store.begin_delivery(
            DeliveryDraft(
                tenant=input.tenant,
                idempotency_key=key,
                subject=f"slot:{slot.slot_id}",
                workflow_id=input.workflow_id,
                step="claimed",
                contact_id=input.contact_id,
                template=CLAIMED_EVENT,
                scheduled_for=input.claimed_at,
            )
        )
        if row.status not in (DeliveryStatus.PLANNED, DeliveryStatus.SENDING):
            return ClaimResult(status=row.status.value, reason=row.reason)
        event = {
            "id": key,
            "type": CLAIMED_EVENT,
            "tenant": input.tenant,
            "time": input.claimed_at.isoformat(),
            "data": {
                "slot_id": slot.slot_id,
                "entry_id": input.entry_id,
                "patient_id": input.contact_id,
                "starts_at": slot.starts_at.isoformat(),
                "duration_minutes": slot.duration_minutes,
                "service_code": slot.service.code,
                "doctor_id": slot.doctor.id,
                "location_id": slot.location.id,
                "offer_delivery_id": input.delivery_id,
            },
        }
        outcome = DeliveryOutcome(
            status=DeliveryStatus.SENT,
            channel=Channel.WEBHOOK.value,
            provider="outbox",
            sent_at=datetime.now(UTC),
        )
        if self.webhook is not None:
            try:
                receipt = await self.webhook.post_event(event, key)
            except ProviderUnavailable as exc:
                raise Retry(str(exc), exc.retry_after) from exc
            except SendError as exc:
                outcome = DeliveryOutcome(status=DeliveryStatus.FAILED, channel="webhook", reason=str(exc))
            else:
                outcome = outcome.model_copy(
                    update={"provider": receipt.provider, "provider_message_id": receipt.provider_message_id}
                )
        finished = await self.store.finish_delivery(row.id, outcome)
        return ClaimResult(status=finished.status.value, reason=finished.reason)


def slot_activities(store: Store, adapters: Mapping[Channel, ChannelAdapter] | None) -> list[Any]:
    """What the worker registers for SlotOfferWorkflow beside the send activities."""
    slots = SlotActivities(store, adapters)
    return [slots.offer_batch, slots.close_offers, slots.tell_backend]
