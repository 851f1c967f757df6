"""Which channels may carry a message to a contact, cheapest allowed first."""

from __future__ import annotations

from domain.contacts import Channel, Contact

# Opt-outs name channels or these categories; staff alerts belong to none and are never opted out.
TEMPLATE_CATEGORIES: dict[str, str] = {
    "visit_reminder": "reminders",
    "feedback_request": "feedback",
    "feedback_followup": "feedback",
}


def category_of(template: str) -> str:
    return TEMPLATE_CATEGORIES.get(template, "service")


def reachable(contact: Contact) -> list[Channel]:
    """Channels with an address for this contact."""
    found: list[Channel] = []
    if contact.telegram_chat_id:
        found.append(Channel.TELEGRAM)
    if contact.whatsapp and contact.phone:
        found.append(Channel.WHATSAPP)
    if contact.phone:
        found.append(Channel.SMS)
    if contact.push_tokens:
        found.append(Channel.PUSH)
    if contact.webpush_subscriptions:
        found.append(Channel.WEBPUSH)
    if contact.email:
        found.append(Channel.EMAIL)
    return found


def channel_order(contact: Contact, costs: dict[Channel, float], template: str) -> list[Channel]:
    """Preferred reachable channels cheapest first, then the other reachable ones cheapest first.

    Empty when the contact opted out of the message's category or has no allowed address.
    """
    if category_of(template) in contact.opted_out:
        return []
    allowed = [ch for ch in reachable(contact) if ch.value not in contact.opted_out]

    def cost(channel: Channel) -> float:
        return costs.get(channel, float("inf"))

    preferred = sorted((ch for ch in allowed if ch in contact.preferred_channels), key=cost)
    rest = sorted((ch for ch in allowed if ch not in contact.preferred_channels), key=cost)
    return preferred + rest
