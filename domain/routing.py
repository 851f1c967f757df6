"""Which channels may carry a message to a contact, cheapest allowed first."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import phonenumbers

from domain.contacts import Channel, Contact

# Opt-outs name channels or these categories; staff alerts belong to none and are never opted out.
TEMPLATE_CATEGORIES: dict[str, str] = {
    "visit_reminder": "reminders",
    "lesson_reminder": "reminders",
    # One reminder for several children (domain/bundles.py): a reminder, counted once by the cadence.
    "lesson_reminder_family": "reminders",
    "feedback_request": "feedback",
    "feedback_followup": "feedback",
    "lesson_feedback_request": "feedback",
    "lesson_feedback_followup": "feedback",
    "payment_nudge": "payments",
    "balance_nudge": "payments",
    # A recall invites a visit not yet booked: marketing, so "stop promotions" ends recalls, not reminders.
    "recall_invitation": "marketing",
}


def category_of(template: str) -> str:
    return TEMPLATE_CATEGORIES.get(template, "service")


def dead_address(channel: Channel, address: str) -> str:
    """How a dead address is written on the contact: `telegram:<chat id>`, `push:<token>`."""
    return f"{channel.value}:{address}"


def live_push_tokens(contact: Contact) -> list[str]:
    return [t for t in contact.push_tokens if dead_address(Channel.PUSH, t) not in contact.dead_addresses]


def live_webpush_subscriptions(contact: Contact) -> list[dict[str, Any]]:
    return [
        sub
        for sub in contact.webpush_subscriptions
        if dead_address(Channel.WEBPUSH, str(sub.get("endpoint"))) not in contact.dead_addresses
    ]


def reachable(contact: Contact) -> list[Channel]:
    """Channels with a live address for this contact (none a provider has called dead)."""

    def live(channel: Channel, address: str | None) -> bool:
        return bool(address) and dead_address(channel, str(address)) not in contact.dead_addresses

    found: list[Channel] = []
    if live(Channel.TELEGRAM, contact.telegram_chat_id):
        found.append(Channel.TELEGRAM)
    if contact.whatsapp and live(Channel.WHATSAPP, contact.phone):
        found.append(Channel.WHATSAPP)
    if live(Channel.SMS, contact.phone):
        found.append(Channel.SMS)
    if live_push_tokens(contact):
        found.append(Channel.PUSH)
    if live_webpush_subscriptions(contact):
        found.append(Channel.WEBPUSH)
    if live(Channel.EMAIL, contact.email):
        found.append(Channel.EMAIL)
    # The tenant's own system has no per-contact address: it carries what the contact asks it to.
    if Channel.WEBHOOK in contact.preferred_channels:
        found.append(Channel.WEBHOOK)
    return found


# SMS gateways by the number's country calling code; the rest of the world goes to Twilio.
SMS_GATEWAYS: dict[int, str] = {7: "smsaero", 375: "rocketsms"}
DEFAULT_SMS_GATEWAY = "twilio"


def sms_gateway(phone: str) -> str:
    """The gateway for an E.164 number: SMS Aero for +7, rocketsms.by for +375, Twilio otherwise."""
    try:
        country = phonenumbers.parse(phone, None).country_code
    except phonenumbers.NumberParseException:
        return DEFAULT_SMS_GATEWAY
    return SMS_GATEWAYS.get(country or 0, DEFAULT_SMS_GATEWAY)


WHATSAPP_WINDOW = timedelta(hours=24)


def whatsapp_window_open(contact: Contact, now: datetime) -> bool:
    """Free text is allowed only inside the 24-hour window opened by the contact's last message."""
    return contact.whatsapp_window_until is not None and now < contact.whatsapp_window_until


def channel_order(contact: Contact, costs: dict[Channel, float], template: str) -> list[Channel]:
    """Preferred reachable channels cheapest first, then the other reachable ones cheapest first.

    Empty when the contact opted out of the message's category or has no allowed address.
    """
    if category_of(template) in contact.opted_out:
        return []
    category = category_of(template)
    allowed = [
        ch
        for ch in reachable(contact)
        if ch.value not in contact.opted_out and f"{ch.value}:{category}" not in contact.consent_revoked
    ]

    def cost(channel: Channel) -> float:
        return costs.get(channel, float("inf"))

    preferred = sorted((ch for ch in allowed if ch in contact.preferred_channels), key=cost)
    rest = sorted((ch for ch in allowed if ch not in contact.preferred_channels), key=cost)
    return preferred + rest
