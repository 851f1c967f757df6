"""The bot's deep link `https://t.me/<bot username>?start=<token>` that moves a patient to Telegram.

The token is the signed, expiring `/start` token of channels/replies.py naming the delivery that
carried the link; pressing Start sends `/start <token>` to our webhook, which links the chat to
that delivery's contact (api/inbound.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from channels.config import ChannelsConfig, reply_secret
from channels.replies import start_token


def start_link(bot_username: str, delivery_id: int, secret: str, now: datetime) -> str:
    return f"https://t.me/{bot_username.lstrip('@')}?start={start_token(delivery_id, secret, now)}"


def start_links(config: ChannelsConfig) -> Callable[[int], str] | None:
    """A delivery's deep link; None unless the install has a bot (token and username) that hears
    Start (its webhook secret)."""
    username = config.telegram_bot_username
    if not (username and config.telegram_bot_token and config.telegram_webhook_secret):
        return None
    secret = reply_secret(config)
    return lambda delivery_id: start_link(username, delivery_id, secret, datetime.now(UTC))


# The confirmation that carries the offer, and the channels it is offered on (not Telegram itself).
OFFERED_WITH = frozenset({"appointment_confirmed"})
OFFERED_ON = frozenset({"sms", "whatsapp", "email"})
# How a body that carried the offer is recognised when it is recorded.
LINK_PREFIX = "https://t.me/"
