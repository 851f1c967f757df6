"""The `sms` channel: one gateway per country of the number (pure choice in domain.routing)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from channels.base import (
    ChannelAdapter,
    OutgoingMessage,
    ProviderUnavailable,
    RecipientUnreachable,
    SendReceipt,
)
from channels.outbox import OutboxAdapter
from domain.routing import sms_gateway


def receives_replies(adapter: object, phone: str) -> bool:
    """Whether an SMS to `phone` can be answered: only through a gateway that hands replies back
    (Twilio; SMS Aero and rocketsms.by send from alphanumeric names and document no incoming API)."""
    gateway = adapter.gateway(phone) if isinstance(adapter, SmsAdapter) else adapter
    return bool(getattr(gateway, "receives_replies", False))


class SmsAdapter:
    """Sends through the gateway for the number's country; a gateway without credentials is the outbox."""

    provider = "sms"

    def __init__(self, gateways: Mapping[str, ChannelAdapter]) -> None:
        self.gateways = dict(gateways)
        self.outbox = OutboxAdapter()

    def gateway(self, phone: str) -> ChannelAdapter:
        return self.gateways.get(sms_gateway(phone), self.outbox)

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        phone = message.recipient.phone
        if not phone:
            raise RecipientUnreachable("sms: the contact has no phone", provider=self.provider)
        return await self.gateway(phone).send(message)

    def provider_for(self, message: OutgoingMessage) -> str:
        return self.gateway(message.recipient.phone or "").provider

    async def lookup(self, message: OutgoingMessage, since: datetime) -> list[SendReceipt]:
        gateway = self.gateway(message.recipient.phone or "")
        lookup = getattr(gateway, "lookup", None)
        if lookup is None:
            raise ProviderUnavailable(f"{gateway.provider} cannot say whether it took a message")
        receipts: list[SendReceipt] = await lookup(message, since)
        return receipts
