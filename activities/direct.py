"""A short text the engine sends by itself, outside any lifecycle (the answer to a patient's reply,
a notice to staff): a provider call for a delivery row just begun, once more if the provider
certainly did not take the first, every attempt recorded."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from channels import ChannelAdapter, OutgoingMessage
from channels.base import ProviderUnavailable, SendError
from domain.contacts import Channel, Contact
from domain.deliveries import Delivery, DeliveryOutcome, DeliveryStatus
from store import Store

log = logging.getLogger(__name__)

# A call the provider certainly did not take (no connection, or a 429/503: "not now") goes once more
# after this pause, or the provider's Retry-After if it asks for one no longer than AGAIN_AT_MOST;
# the caller waits for it (an inbound webhook answers within the provider's timeout: Twilio's is
# 15 s, and each call has at most the 5 s connect or the channel's budget). One that may have
# reached the provider (a read timeout, a 502) is never sent again: that would be a duplicate.
AGAIN_AFTER = 0.5
AGAIN_AT_MOST = 3.0


async def send_text(
    store: Store,
    row: Delivery,
    adapter: ChannelAdapter | None,
    channel: Channel,
    recipient: Contact,
    text: str,
    *,
    what: str,
) -> Delivery:
    """Send `text` for `row` (created by the caller's begin_delivery) and record how it went:
    every attempt in the row's log, and the row's outcome from the last."""
    try:
        if adapter is None:
            raise SendError(f"no {channel.value} provider configured")
        message = OutgoingMessage(
            idempotency_key=row.idempotency_key, channel=channel, recipient=recipient, body=text
        )
        try:
            receipt = await adapter.send(message)
        except ProviderUnavailable as exc:
            pause = exc.retry_after.total_seconds() if exc.retry_after else AGAIN_AFTER
            if exc.maybe_sent or pause > AGAIN_AT_MOST:
                raise
            log.warning("%s could not go on %s, once more: %s", what, channel.value, exc)
            failed = DeliveryOutcome(
                status=DeliveryStatus.PLANNED, channel=channel.value, provider=exc.provider, reason=str(exc)
            )
            await store.move_delivery(
                row.id, failed, [DeliveryStatus.PLANNED], attempt_status=DeliveryStatus.FAILED
            )
            await asyncio.sleep(pause)
            receipt = await adapter.send(message)
        outcome = DeliveryOutcome(
            status=DeliveryStatus.SENT,
            channel=channel.value,
            provider=receipt.provider,
            body=text,
            provider_message_id=receipt.provider_message_id,
            cost=receipt.cost,
            sent_at=datetime.now(UTC),
        )
    except SendError as exc:
        log.warning("%s could not go on %s: %s", what, channel.value, exc)
        outcome = DeliveryOutcome(
            status=DeliveryStatus.FAILED, channel=channel.value, body=text, reason=str(exc)
        )
    return await store.finish_delivery(row.id, outcome)
