"""The `outbox` provider: stores only. Backs every channel that has no credentials."""

from __future__ import annotations

from channels.base import OutgoingMessage, SendReceipt


class OutboxAdapter:
    """Accepts every message; the delivery log row is the message."""

    provider = "outbox"

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        return SendReceipt(provider=self.provider, provider_message_id=f"outbox:{message.idempotency_key}")
