"""A short text the engine sends by itself, outside any lifecycle (the answer to a patient's reply,
a notice to staff): one provider call for a delivery row just begun, recorded either way."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from channels import ChannelAdapter, OutgoingMessage
from channels.base import SendError
from domain.contacts import Channel, Contact
from domain.deliveries import Delivery, DeliveryOutcome, DeliveryStatus
from store import Store

log = logging.getLogger(__name__)


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
    """Send `text` for `row` (created by the caller's begin_delivery) and record how it went."""
    try:
        if adapter is None:
            raise SendError(f"no {channel.value} provider configured")
        receipt = await adapter.send(
            OutgoingMessage(
                idempotency_key=row.idempotency_key, channel=channel, recipient=recipient, body=text
            )
        )
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
