"""Adapters that carry a rendered message to a provider, one a file, behind one small interface."""

from channels.base import (
    ChannelAdapter,
    MessageExpired,
    OutgoingMessage,
    ProviderUnavailable,
    RecipientUnreachable,
    SendError,
    SendReceipt,
)
from channels.outbox import OutboxAdapter

__all__ = [
    "ChannelAdapter",
    "MessageExpired",
    "OutboxAdapter",
    "OutgoingMessage",
    "ProviderUnavailable",
    "RecipientUnreachable",
    "SendError",
    "SendReceipt",
]
