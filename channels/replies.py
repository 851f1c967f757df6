"""Opaque reply tokens: what a button or a deep link carries back, with no personal data in it.

A token names a delivery row, is signed with NUDGEFLOW_REPLY_SECRET and expires:
`<kind><delivery id, hex>_<expiry, Unix seconds hex>_<nonce>_<tag>`, where kind is `b` (a button
of a message) or `s` (a Telegram `/start` deep link), the nonce is random and the tag is 96 bits of
HMAC-SHA256 over all of it. A token of one kind is no token of the other, knowing a delivery id
helps nobody compute one, and an old token is refused after its moment. It fits Telegram's 64-byte
callback_data (with `:<button index>`) and the `[A-Za-z0-9_-]{1,64}` alphabet of a deep link.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

TOKEN = re.compile(r"^([bs])([0-9a-f]{1,15})_([0-9a-f]{1,10})_([0-9a-f]{8})_([0-9a-f]{24})$")
# A deep link sent in a message stays usable this long; a button, as long as its message matters.
START_TTL = timedelta(days=30)
BUTTON_TTL = timedelta(days=30)


class Kind(StrEnum):
    BUTTON = "b"
    START = "s"


def _tag(kind: Kind, delivery_id: int, expires: int, nonce: str, secret: str) -> str:
    message = f"reply:{kind.value}:{delivery_id}:{expires}:{nonce}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:24]


def reply_token(delivery_id: int, secret: str, kind: Kind, expires_at: datetime) -> str:
    expires = int(expires_at.timestamp())
    nonce = secrets.token_hex(4)
    tag = _tag(kind, delivery_id, expires, nonce, secret)
    return f"{kind.value}{delivery_id:x}_{expires:x}_{nonce}_{tag}"


def delivery_of(token: str, secret: str, kind: Kind, now: datetime) -> int | None:
    """The delivery a token names, or None when it is malformed, not signed by us, or expired."""
    match = TOKEN.match(token)
    if match is None or match.group(1) != kind.value:
        return None
    delivery_id, expires = int(match.group(2), 16), int(match.group(3), 16)
    expected = _tag(kind, delivery_id, expires, match.group(4), secret)
    if not hmac.compare_digest(match.group(5), expected) or expires < now.timestamp():
        return None
    return delivery_id


def start_token(delivery_id: int, secret: str, now: datetime) -> str:
    """The payload of a `t.me/<bot>?start=` link that links the chat to this delivery's contact."""
    return reply_token(delivery_id, secret, Kind.START, now + START_TTL)


def start_delivery(token: str, secret: str, now: datetime) -> int | None:
    return delivery_of(token, secret, Kind.START, now)


def button_data(delivery_id: int, index: int, secret: str, expires_at: datetime) -> str:
    """callback_data of the index-th button of a delivery's message, refused after `expires_at`."""
    return f"{reply_token(delivery_id, secret, Kind.BUTTON, expires_at)}:{index}"


def pressed(data: str, secret: str, now: datetime) -> tuple[int, int] | None:
    """(delivery id, button index) from callback_data, or None if it is not one of ours (any more)."""
    token, _, index = data.partition(":")
    delivery_id = delivery_of(token, secret, Kind.BUTTON, now)
    if delivery_id is None or not index.isdigit() or len(index) > 2:
        return None
    return delivery_id, int(index)


# What the n-th button of a template means: (event type, extra data). Index order follows the
# template's `buttons` list ("I'll come", "I can't come"; ratings 1 to 5; "I've paid"). Which
# lifecycle the event is about comes from the delivery (a lesson's rating names the lesson).
RATINGS = [("feedback.submitted", {"rating": n}) for n in range(1, 6)]
ANSWERS: dict[str, list[tuple[str, dict[str, int]]]] = {
    "visit_reminder": [("attendance.confirmed", {}), ("attendance.declined", {})],
    "slot_offer": [("slot.accepted", {})],
    "feedback_request": RATINGS,
    "feedback_followup": RATINGS,
    "lesson_feedback_request": RATINGS,
    "lesson_feedback_followup": RATINGS,
    "payment_nudge": [("payment.reported", {})],
    "balance_nudge": [("payment.reported", {})],
}


def answer(template: str, index: int) -> tuple[str, dict[str, int]] | None:
    """The domain event a press of button `index` on a message of `template` stands for."""
    options = ANSWERS.get(template, [])
    return options[index] if 0 <= index < len(options) else None
