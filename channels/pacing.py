"""Each provider's own pace, as buckets a message passes through (store/pacing.py holds them).

Telegram: ~30 messages/s per bot and ~1/s per chat (core.telegram.org/bots/faq). WhatsApp Cloud API:
80/s per business number. Twilio: per sender, 1 segment/s on a long code, ~100/s for a short code
or a Messaging Service (MG...). FCM HTTP v1: 600,000/min per project. Every rate can be changed with
NUDGEFLOW_PACING_* (a number upgraded to 1,000/s, a toll-free sender at 3/s); 0 turns a bucket off.

A bucket's key names the provider and a hash of the sender (and of the chat): no token, number or
chat id is stored in the clear. Every bucket runs at HEADROOM of the rate set: a send leaves a
moment or so after the one it reserved (its claim commits, a busy event loop wakes it late), so a
few bunch up now and then; paced a little under the limit, the provider's own bucket has refilled
by then and takes them.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from channels.base import ChannelAdapter, OutgoingMessage
from channels.fcm import FcmAdapter
from channels.sms import SmsAdapter
from channels.telegram import TelegramAdapter
from channels.twilio import TwilioAdapter
from channels.whatsapp import WhatsAppAdapter
from domain.sms import count_sms
from store.pacing import Pace


class PacingConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NUDGEFLOW_PACING_", extra="ignore")

    telegram_bot_per_second: float = 30.0
    telegram_chat_per_second: float = 1.0
    whatsapp_per_second: float = 80.0
    # None: from the sender, 1/s for a phone number, 100/s for a short code or a Messaging Service.
    twilio_per_second: float | None = None
    fcm_per_minute: float = 600_000.0


@lru_cache(maxsize=1)
def get_pacing_config() -> PacingConfig:
    return PacingConfig()


def _hash(*parts: Any) -> str:
    return hashlib.sha256("\x00".join(str(part) for part in parts).encode()).hexdigest()[:16]


def twilio_rate(sender: str) -> float:
    """A long code sends a segment a second; a short code or a Messaging Service far more."""
    digits = sender.lstrip("+")
    if sender.startswith("MG") or (digits.isdigit() and len(digits) <= 6):
        return 100.0
    return 1.0


# The share of a provider's rate the buckets use (see the module docstring).
HEADROOM = 0.9


def _bucket(paces: list[Pace], key: str, per_second: float, weight: float = 1.0) -> None:
    if per_second > 0:
        paces.append(Pace(key, per_second * HEADROOM, weight))


def paces(
    adapter: ChannelAdapter, message: OutgoingMessage, config: PacingConfig | None = None
) -> list[Pace]:
    """The buckets this message passes through on this adapter; [] when its provider has no pace."""
    config = config or get_pacing_config()
    found: list[Pace] = []
    if isinstance(adapter, SmsAdapter):
        adapter = adapter.gateway(message.recipient.phone or "")
    if isinstance(adapter, TelegramAdapter):
        bot = _hash(adapter.client.base_url)
        _bucket(found, f"telegram:bot:{bot}", config.telegram_bot_per_second)
        chat = message.recipient.telegram_chat_id
        if chat:
            _bucket(found, f"telegram:chat:{_hash(bot, chat)}", config.telegram_chat_per_second)
    elif isinstance(adapter, WhatsAppAdapter):
        _bucket(found, f"whatsapp:number:{_hash(adapter.client.base_url)}", config.whatsapp_per_second)
    elif isinstance(adapter, TwilioAdapter):
        rate = config.twilio_per_second or twilio_rate(adapter.sender)
        # A long code's pace is in segments: a three-part SMS takes three seconds of it.
        weight = float(count_sms(message.body).segments) if rate < 10 else 1.0
        _bucket(found, f"twilio:sender:{_hash(adapter.path, adapter.sender)}", rate, weight)
    elif isinstance(adapter, FcmAdapter):
        _bucket(found, f"fcm:project:{_hash(adapter.path)}", config.fcm_per_minute / 60)
    return found


def sender_key(found: list[Pace]) -> str | None:
    """The bucket a provider's "wait" (429 Retry-After) holds back: the sender's, not the chat's."""
    return found[0].key if found else None
