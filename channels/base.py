"""The channel interface and what can go wrong with a send.

SendError
├── RecipientUnreachable   permanent: blocked bot, dead token, unsubscribed number
├── ProviderUnavailable    transient: 5xx, timeout, 429 (with retry_after);
│                          `maybe_sent` when the provider may have taken it (a read timeout, a 502)
└── MessageExpired         its moment has passed; never sent late

An adapter may also implement `Reconciler.lookup`: after a call whose outcome is unknown, it asks the
provider whether the message is there, so a retry neither sends it twice nor gives up on it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, Field

from domain.contacts import Channel, Contact
from domain.deliveries import Attachment


class SendError(Exception):
    """A send that did not deliver."""


class RecipientUnreachable(SendError):
    """The provider says this address cannot be reached; try the next channel.

    `address` names the dead address (chat id, token, endpoint) so the router stops using it;
    None when only this message was refused (a bad payload, an unapproved template).
    """

    def __init__(self, message: str, address: str | None = None, provider: str | None = None) -> None:
        super().__init__(message)
        self.address = address
        self.provider = provider


class ProviderUnavailable(SendError):
    """The provider failed for now; retry after `retry_after` when it says so."""

    def __init__(
        self,
        message: str,
        retry_after: timedelta | None = None,
        provider: str | None = None,
        *,
        maybe_sent: bool = False,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.provider = provider
        # True when the request may have reached the provider and been taken (a read timeout, a
        # dropped connection, a 502 or 504 from a proxy): resending could duplicate the message.
        self.maybe_sent = maybe_sent


class MessageExpired(SendError):
    """The message's moment has passed."""


class OutgoingMessage(BaseModel):
    idempotency_key: str
    channel: Channel
    recipient: Contact
    subject: str | None = None
    title: str | None = None
    body: str
    html: str | None = None
    buttons: list[str] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    # Set by the send activity: the delivery row (reply buttons carry a token of it), the template
    # key and locale (WhatsApp templates are approved per name and language), and when it expires.
    delivery_id: int | None = None
    template: str | None = None
    locale: str | None = None
    expires_at: datetime | None = None
    # WhatsApp only: the approved template language to use outside the 24-hour window (Meta's code,
    # `en_US`), and False when no language of the template may go (domain/whatsapp_templates.py).
    template_language: str | None = None
    template_allowed: bool = True


class SendReceipt(BaseModel):
    provider: str
    provider_message_id: str
    cost: float = 0.0


class ChannelAdapter(Protocol):
    provider: str

    async def send(self, message: OutgoingMessage) -> SendReceipt: ...


def provider_of(adapter: ChannelAdapter, outgoing: OutgoingMessage) -> str:
    """The provider this adapter would call for this message (a router adapter names its pick)."""
    chooser = getattr(adapter, "provider_for", None)
    return str(chooser(outgoing)) if chooser is not None else adapter.provider


class Reconciler(Protocol):
    """A provider that can say whether it took a message, for a retry after an unknown outcome."""

    async def lookup(self, message: OutgoingMessage, since: datetime) -> list[SendReceipt]:
        """The provider's records of messages like this one (same recipient and text) created at
        or after `since`, newest first; [] if it has none; ProviderUnavailable when it cannot tell.
        A match may be an earlier message with the same text: the caller skips those it recorded."""
        ...


# Adapters whose receiver drops a repeated message by its identity (the webhook's Idempotency-Key,
# the email's stable Message-ID): sending again after an unknown outcome is harmless.
RECEIVER_DEDUPES = frozenset({"webhook", "email"})
