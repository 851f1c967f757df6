"""Every adapter over real HTTP (or SMTP) to its fake: each answer lands in the right class."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest

from channels.base import ChannelAdapter, OutgoingMessage, ProviderUnavailable, RecipientUnreachable
from domain.contacts import Channel, Contact
from tests.channels.conftest import Fakes

_n = itertools.count(1000)


def recipient(fakes: Fakes, channel: Channel, gateway: str = "") -> tuple[Contact, str, Any]:
    """A fresh contact reachable on `channel`, the key its fake scripts by, and that fake."""
    n = next(_n)
    if channel == Channel.TELEGRAM:
        return Contact(id=f"c{n}", telegram_chat_id=str(n)), str(n), fakes.telegram
    if channel == Channel.WHATSAPP:
        phone = f"+7916{n:07d}"
        return Contact(id=f"c{n}", phone=phone, whatsapp=True), phone, fakes.whatsapp
    if channel == Channel.SMS:
        phone = {"smsaero": f"+7916{n:07d}", "rocketsms": f"+37529{n:07d}", "twilio": f"+4477009{n:05d}"}[
            gateway
        ]
        fake = {"smsaero": fakes.smsaero, "rocketsms": fakes.rocketsms, "twilio": fakes.twilio}[gateway]
        key = phone if gateway == "twilio" else phone.lstrip("+")
        return Contact(id=f"c{n}", phone=phone), key, fake
    if channel == Channel.PUSH:
        return Contact(id=f"c{n}", push_tokens=[f"tok-{n}"]), f"tok-{n}", fakes.fcm
    if channel == Channel.WEBPUSH:
        sub = fakes.webpush.subscribe(f"b{n}")
        return Contact(id=f"c{n}", webpush_subscriptions=[sub]), f"b{n}", fakes.webpush
    if channel == Channel.WEBHOOK:
        return Contact(id=f"c{n}", preferred_channels=[Channel.WEBHOOK]), f"c{n}", fakes.tenant
    address = f"patient{n}@mail.example"
    return Contact(id=f"c{n}", email=address), address, fakes.smtp


def message(channel: Channel, contact: Contact, **extra: Any) -> OutgoingMessage:
    return OutgoingMessage(
        idempotency_key=f"wf/{contact.id}",
        channel=channel,
        recipient=contact,
        subject="Reminder",
        body="Завтра в 14:00 приём у стоматолога",
        delivery_id=42,
        template="visit_reminder",
        locale="ru",
        **extra,
    )


# (channel, SMS gateway, scripted answer, expected): "dead" marks the address, "refused" only this
# message, a number is a transient failure with the provider's retry-after in seconds.
CASES: list[tuple[Channel, str, str, str | float | None]] = [
    (Channel.TELEGRAM, "", "blocked", "dead"),
    (Channel.TELEGRAM, "", "cant_initiate", "dead"),
    (Channel.TELEGRAM, "", "deactivated", "dead"),
    (Channel.TELEGRAM, "", "chat_not_found", "dead"),
    (Channel.TELEGRAM, "", "flood", 3.0),
    (Channel.TELEGRAM, "", "bad_gateway", None),
    (Channel.WHATSAPP, "", "not_on_whatsapp", "dead"),
    (Channel.WHATSAPP, "", "template_missing", "refused"),
    (Channel.WHATSAPP, "", "throughput", 1.0),
    (Channel.WHATSAPP, "", "pair_limit", 6.0),
    (Channel.WHATSAPP, "", "server_error", None),
    (Channel.SMS, "smsaero", "bad_number", "dead"),
    (Channel.SMS, "smsaero", "no_credits", "refused"),
    (Channel.SMS, "smsaero", "rate_limited", 2.0),
    (Channel.SMS, "smsaero", "server_error", None),
    (Channel.SMS, "rocketsms", "bad_phone", "dead"),
    (Channel.SMS, "rocketsms", "no_message", "refused"),
    (Channel.SMS, "rocketsms", "rate_limited", 2.0),
    (Channel.SMS, "rocketsms", "server_error", None),
    (Channel.SMS, "twilio", "invalid_number", "dead"),
    (Channel.SMS, "twilio", "unsubscribed", "dead"),
    (Channel.SMS, "twilio", "not_mobile", "dead"),
    (Channel.SMS, "twilio", "too_many", 2.0),
    (Channel.SMS, "twilio", "server_error", None),
    (Channel.PUSH, "", "unregistered", "dead"),
    (Channel.PUSH, "", "invalid_token", "dead"),
    (Channel.PUSH, "", "sender_mismatch", "dead"),
    (Channel.PUSH, "", "quota", 2.0),
    (Channel.PUSH, "", "unavailable", 1.0),
    (Channel.PUSH, "", "internal", None),
    (Channel.WEBPUSH, "", "gone", "dead"),
    (Channel.WEBPUSH, "", "not_found", "dead"),
    (Channel.WEBPUSH, "", "too_large", "refused"),
    (Channel.WEBPUSH, "", "rate_limited", 2.0),
    (Channel.WEBPUSH, "", "unavailable", None),
    (Channel.WEBHOOK, "", "gone", "refused"),
    (Channel.WEBHOOK, "", "rate_limited", 2.0),
    (Channel.WEBHOOK, "", "server_error", None),
    (Channel.EMAIL, "", "unknown_user", "dead"),
    (Channel.EMAIL, "", "try_later", None),
]

RETRYABLE = {
    Channel.TELEGRAM: "bad_gateway", Channel.WHATSAPP: "server_error", Channel.PUSH: "internal",
    Channel.WEBPUSH: "unavailable", Channel.WEBHOOK: "server_error", Channel.EMAIL: "try_later",
}  # fmt: skip
EVERY_ADAPTER = [(ch, "") for ch in RETRYABLE] + [
    (Channel.SMS, g) for g in ("smsaero", "rocketsms", "twilio")
]


def _id(case: tuple[Any, ...]) -> str:
    return "-".join(str(part) for part in case[:3] if part)


@pytest.mark.parametrize(("channel", "gateway"), EVERY_ADAPTER, ids=lambda v: str(v))
async def test_a_reachable_recipient_gets_the_message(
    fakes: Fakes, adapters: dict[Channel, ChannelAdapter], channel: Channel, gateway: str
) -> None:
    contact, _key, fake = recipient(fakes, channel, gateway)
    receipt = await adapters[channel].send(message(channel, contact))
    assert receipt.provider_message_id
    if channel == Channel.EMAIL:
        assert "Завтра в 14:00" in fake.messages[-1].get_payload(decode=True).decode()
    else:
        assert "Завтра в 14:00" in str(fake.sent()[-1]["payload"])
    assert receipt.provider == {"sms": gateway, "push": "fcm", "email": "smtp"}.get(
        channel.value, channel.value
    )


@pytest.mark.parametrize(("channel", "gateway", "answer", "expected"), CASES, ids=[_id(c) for c in CASES])
async def test_provider_answers_are_classified(
    fakes: Fakes,
    adapters: dict[Channel, ChannelAdapter],
    channel: Channel,
    gateway: str,
    answer: str,
    expected: str | float | None,
) -> None:
    contact, key, fake = recipient(fakes, channel, gateway)
    fake.plan(key, answer)
    if expected in ("dead", "refused"):
        with pytest.raises(RecipientUnreachable) as unreachable:
            await adapters[channel].send(message(channel, contact))
        assert (unreachable.value.address is not None) == (expected == "dead")
        return
    with pytest.raises(ProviderUnavailable) as unavailable:
        await adapters[channel].send(message(channel, contact))
    wait = None if expected is None else timedelta(seconds=float(expected))
    assert unavailable.value.retry_after == wait


@pytest.mark.parametrize(("channel", "gateway"), EVERY_ADAPTER, ids=lambda v: str(v))
async def test_a_transient_failure_then_success_sends_once(
    fakes: Fakes, adapters: dict[Channel, ChannelAdapter], channel: Channel, gateway: str
) -> None:
    contact, key, fake = recipient(fakes, channel, gateway)
    fake.plan(key, RETRYABLE.get(channel, "server_error"))
    with pytest.raises(ProviderUnavailable):
        await adapters[channel].send(message(channel, contact))
    await adapters[channel].send(message(channel, contact))


@pytest.mark.parametrize(("channel", "gateway"), EVERY_ADAPTER, ids=lambda v: str(v))
async def test_a_hung_provider_is_a_transient_failure_after_the_timeout(
    fakes: Fakes, adapters: dict[Channel, ChannelAdapter], channel: Channel, gateway: str
) -> None:
    contact, key, fake = recipient(fakes, channel, gateway)
    fake.plan(key, "hang")
    with pytest.raises(ProviderUnavailable, match=r"timed out|Timeout"):
        await adapters[channel].send(message(channel, contact))
