"""A short text the engine sends by itself, outside any lifecycle (the answer to a patient's reply,
a notice to staff), every attempt recorded in the row's log.

Each call is claimed first (planned → sending), so an attempt that finds `sending` knows an earlier
one was cut off during its call. A provider that certainly did not take it (no connection, a 429 or
503: "not now") puts the row back to `planned`: the caller tries once more after a short pause, or
hands the message to AnswerWorkflow (`later`), which goes on trying on Temporal's retry policy. One
that may have reached the provider (a read timeout, a 502) is recorded `unknown` and never sent
again: that would be a duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from activities.models import AnswerInput
from channels import ChannelAdapter, OutgoingMessage
from channels.base import ProviderUnavailable, SendError, provider_of
from domain.contacts import Channel, Contact
from domain.deliveries import Delivery, DeliveryOutcome, DeliveryStatus
from store import Store

log = logging.getLogger(__name__)

# Without `later`, a call the provider certainly did not take goes once more after this pause, or
# the provider's Retry-After if it asks for one no longer than AGAIN_AT_MOST; the caller waits for it
# (an inbound webhook answers within the provider's timeout: Twilio's is 15 s).
AGAIN_AFTER = 0.5
AGAIN_AT_MOST = 3.0


class Retry(ApplicationError):
    """This attempt ends without an outcome; the activity's retry policy tries again."""

    def __init__(self, message: str, retry_after: timedelta | None = None) -> None:
        super().__init__(message, type="ProviderUnavailable", next_retry_delay=retry_after)


class NotTaken(Exception):
    """The provider certainly did not take the message; its row is `planned` again."""

    def __init__(self, row: Delivery, cause: ProviderUnavailable) -> None:
        super().__init__(str(cause))
        self.row, self.cause = row, cause


async def send_text(
    store: Store,
    row: Delivery,
    adapter: ChannelAdapter | None,
    channel: Channel,
    recipient: Contact,
    text: str,
    *,
    what: str,
    later: Callable[[Delivery, timedelta], Awaitable[bool]] | None = None,
) -> Delivery:
    """Send `text` for `row` (just begun by the caller, `planned`) and record how it went.

    `later(row, wait)`: when the provider certainly did not take it, hand the row over to be tried
    again after `wait` (the provider's Retry-After, else AGAIN_AFTER); True: it is in hand there and
    the row stays `planned`. Without it, one more call now if the wait is short."""
    message = OutgoingMessage(
        idempotency_key=row.idempotency_key, channel=channel, recipient=recipient, body=text
    )
    try:
        return await attempt(store, row, adapter, message, what=what)
    except NotTaken as refused:
        wait = refused.cause.retry_after or timedelta(seconds=AGAIN_AFTER)
        if later is not None:
            if await later(refused.row, wait):
                return refused.row
        elif wait.total_seconds() <= AGAIN_AT_MOST:
            log.warning("%s could not go on %s, once more: %s", what, channel.value, refused)
            await asyncio.sleep(wait.total_seconds())
            try:
                return await attempt(store, refused.row, adapter, message, what=what)
            except NotTaken as again:
                refused = again
        failed = DeliveryStatus.FAILED
        return await _finish(store, refused.row, failed, channel.value, reason=str(refused), body=text)


async def attempt(
    store: Store, row: Delivery, adapter: ChannelAdapter | None, message: OutgoingMessage, *, what: str
) -> Delivery:
    """One provider call for a `planned` row, claimed first; the row as it ends: sent, failed,
    unknown, or as another attempt holding it left it. Raises NotTaken (row `planned` again)."""
    channel = message.channel
    if adapter is None:
        return await _finish(
            store,
            row,
            DeliveryStatus.FAILED,
            channel.value,
            reason=f"no {channel.value} provider configured",
            body=message.body,
        )
    provider = provider_of(adapter, message)
    claimed = await store.claim_sending(row.id, DeliveryStatus.PLANNED, channel.value, provider, message.body)
    if claimed is None:  # another attempt holds it, or has finished it
        return await store.get_delivery(row.id) or row
    try:
        with metrics.provider_call(channel.value, provider):
            receipt = await adapter.send(message)
    except ProviderUnavailable as exc:
        if exc.maybe_sent:
            return await _unknown(store, claimed, f"{exc}; the provider may have taken it: not resent")
        log.warning("%s could not go on %s: %s", what, channel.value, exc)
        planned = DeliveryOutcome(
            status=DeliveryStatus.PLANNED,
            channel=channel.value,
            provider=exc.provider or provider,
            reason=str(exc),
        )
        moved = await store.move_delivery(
            row.id, planned, [DeliveryStatus.SENDING], attempt_status=DeliveryStatus.FAILED
        )
        raise NotTaken(moved or claimed, exc) from exc
    except SendError as exc:
        log.warning("%s could not go on %s: %s", what, channel.value, exc)
        return await _finish(
            store, claimed, DeliveryStatus.FAILED, channel.value, provider=provider, reason=str(exc)
        )
    outcome = DeliveryOutcome(
        status=DeliveryStatus.SENT,
        channel=channel.value,
        provider=receipt.provider,
        body=message.body,
        provider_message_id=receipt.provider_message_id,
        cost=receipt.cost,
        sent_at=datetime.now(UTC),
    )
    return await _counted(store, row.id, outcome)


async def _finish(
    store: Store,
    row: Delivery,
    status: DeliveryStatus,
    channel: str | None,
    *,
    reason: str,
    provider: str | None = None,
    body: str | None = None,
) -> Delivery:
    outcome = DeliveryOutcome(
        status=status, channel=channel, provider=provider, body=body or row.body, reason=reason
    )
    return await _counted(store, row.id, outcome)


async def _unknown(store: Store, row: Delivery, reason: str) -> Delivery:
    """The provider may have it and nobody can tell: counted and shown, never sent again."""
    metrics.UNKNOWN_OUTCOMES.labels(channel=row.channel or "", provider=row.provider or "").inc()
    return await _finish(
        store, row, DeliveryStatus.UNKNOWN, row.channel, provider=row.provider, reason=reason
    )


async def _counted(store: Store, delivery_id: int, outcome: DeliveryOutcome) -> Delivery:
    finished = await store.finish_delivery(delivery_id, outcome)
    metrics.count_outcome(finished)
    return finished


class AnswerActivities:
    """AnswerWorkflow's activities: the answer's next attempt, and its end when none was taken."""

    def __init__(self, store: Store, adapters: Mapping[Channel, ChannelAdapter] | None) -> None:
        self.store, self.adapters = store, dict(adapters or {})

    async def _waiting(self, input: AnswerInput) -> Delivery | DeliveryStatus:
        """The answer's row if it waits `planned`; else how it stands. One left `sending` was cut off
        during its call (its worker died): it may have gone, so it is recorded unknown now."""
        row = await self.store.get_delivery(input.delivery_id)
        if row is None:
            return DeliveryStatus.SKIPPED
        if row.status == DeliveryStatus.SENDING:
            return (await _unknown(self.store, row, "an attempt ended during its call; not resent")).status
        if row.status != DeliveryStatus.PLANNED:
            return row.status
        return row

    @activity.defn(name="send_answer")
    async def send_answer(self, input: AnswerInput) -> DeliveryStatus:
        """One more call for a waiting answer; Retry (the workflow's policy) while the provider
        certainly did not take it."""
        row = await self._waiting(input)
        if not isinstance(row, Delivery):
            return row
        message = OutgoingMessage(
            idempotency_key=row.idempotency_key,
            channel=input.channel,
            recipient=input.recipient,
            body=input.text,
        )
        try:
            finished = await attempt(
                self.store, row, self.adapters.get(input.channel), message, what="an answer"
            )
        except NotTaken as refused:
            raise Retry(str(refused), refused.cause.retry_after) from refused
        return finished.status

    @activity.defn(name="give_up_answer")
    async def give_up_answer(self, input: AnswerInput) -> DeliveryStatus:
        """No attempt got the answer taken in time: a waiting row fails, one cut off mid-call is unknown."""
        row = await self._waiting(input)
        if not isinstance(row, Delivery):
            return row
        reason = f"not taken by the provider in time: {row.reason or 'no answer'}"
        failed = DeliveryStatus.FAILED
        finished = await _finish(
            self.store, row, failed, input.channel.value, provider=row.provider, reason=reason
        )
        return finished.status


def answer_activities(store: Store, adapters: Mapping[Channel, ChannelAdapter] | None) -> list[Any]:
    """What the worker registers for AnswerWorkflow."""
    answers = AnswerActivities(store, adapters)
    return [answers.send_answer, answers.give_up_answer]
