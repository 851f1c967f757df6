"""Which buckets a message passes through, at what rate, with no secret or address in a key."""

from __future__ import annotations

import pytest

from channels.base import OutgoingMessage
from channels.pacing import HEADROOM, PacingConfig, paces, twilio_rate
from channels.sms import SmsAdapter
from channels.telegram import TelegramAdapter
from channels.twilio import TwilioAdapter
from channels.whatsapp import WhatsAppAdapter
from domain.contacts import Channel, Contact

CONFIG = PacingConfig.model_construct()  # the shipped defaults, whatever the environment says
pytestmark = pytest.mark.usefixtures("real_paces")


def message(channel: Channel, body: str = "Reminder", **contact: str) -> OutgoingMessage:
    return OutgoingMessage(
        idempotency_key="k", channel=channel, recipient=Contact(id="p-1", **contact), body=body
    )


def test_a_telegram_message_passes_its_bots_and_its_chats_buckets() -> None:
    bot = TelegramAdapter("https://api.telegram.org", "123456:SECRET-TOKEN", "reply-secret")
    other_bot = TelegramAdapter("https://api.telegram.org", "654321:OTHER-TOKEN", "reply-secret")

    found = paces(bot, message(Channel.TELEGRAM, telegram_chat_id="5550001"), CONFIG)

    assert [(p.key.split(":")[:2], p.per_second) for p in found] == [
        (["telegram", "bot"], 30 * HEADROOM),
        (["telegram", "chat"], 1 * HEADROOM),
    ]
    assert all("SECRET" not in p.key and "5550001" not in p.key for p in found)
    # Another bot is another sender; another chat of the same bot shares only the bot's bucket.
    assert paces(other_bot, message(Channel.TELEGRAM, telegram_chat_id="5550001"), CONFIG)[0] != found[0]
    second_chat = paces(bot, message(Channel.TELEGRAM, telegram_chat_id="5550002"), CONFIG)
    assert second_chat[0] == found[0] and second_chat[1] != found[1]


def test_whatsapp_paces_its_business_number() -> None:
    adapter = WhatsAppAdapter("https://graph.facebook.com/v23.0", "token", "1098765")
    [pace] = paces(adapter, message(Channel.WHATSAPP, phone="+4915112345678"), CONFIG)
    assert pace.key.startswith("whatsapp:number:") and "1098765" not in pace.key
    assert pace.per_second == 80 * HEADROOM


def test_a_twilio_long_code_counts_segments_and_a_messaging_service_goes_faster() -> None:
    long_code = TwilioAdapter("https://api.twilio.com", "AC1", "auth", "+15005550006")
    service = TwilioAdapter("https://api.twilio.com", "AC1", "auth", "MG0123456789")
    three_parts = "x" * 400  # GSM-7: 153 characters a part when concatenated

    [pace] = paces(SmsAdapter({"twilio": long_code}), message(Channel.SMS, three_parts, phone="+12025550123"))
    assert (pace.per_second, pace.weight, pace.interval) == (1 * HEADROOM, 3.0, 3 / HEADROOM)
    [fast] = paces(service, message(Channel.SMS, three_parts, phone="+12025550123"), CONFIG)
    assert (fast.per_second, fast.weight) == (100 * HEADROOM, 1.0)
    assert twilio_rate("12345") == 100 and twilio_rate("+447700900123") == 1


def test_a_provider_without_a_pace_and_a_bucket_turned_off_pass_none() -> None:
    bot = TelegramAdapter("https://api.telegram.org", "123456:SECRET-TOKEN", "reply-secret")
    off = PacingConfig(telegram_bot_per_second=0, telegram_chat_per_second=0)
    assert paces(bot, message(Channel.TELEGRAM, telegram_chat_id="1"), off) == []
    aero = SmsAdapter({})  # +7 goes to SMS Aero, absent here: the outbox, which has no pace
    assert paces(aero, message(Channel.SMS, phone="+79161234567"), CONFIG) == []
