"""Opaque reply tokens: what a button or a deep link carries back, with no personal data in it.

A token names a delivery row and is signed, so a forged or guessed one is refused:
`d<delivery id>x<16 hex of HMAC-SHA256>`, which fits Telegram's 64-byte callback_data and
the `[A-Za-z0-9_-]{1,64}` alphabet of a `/start` deep-link payload.
"""

from __future__ import annotations

import hashlib
import hmac
import re

TOKEN = re.compile(r"^d(\d{1,18})x([0-9a-f]{16})$")


def _tag(delivery_id: int, secret: str) -> str:
    return hmac.new(secret.encode(), f"reply:{delivery_id}".encode(), hashlib.sha256).hexdigest()[:16]


def reply_token(delivery_id: int, secret: str) -> str:
    return f"d{delivery_id}x{_tag(delivery_id, secret)}"


def delivery_of(token: str, secret: str) -> int | None:
    """The delivery a token names, or None when it is malformed or not signed by us."""
    match = TOKEN.match(token)
    if match is None:
        return None
    delivery_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2), _tag(delivery_id, secret)):
        return None
    return delivery_id


def button_data(delivery_id: int, index: int, secret: str) -> str:
    """callback_data of the index-th button of a delivery's message."""
    return f"{reply_token(delivery_id, secret)}:{index}"


def pressed(data: str, secret: str) -> tuple[int, int] | None:
    """(delivery id, button index) from callback_data, or None if it is not one of ours."""
    token, _, index = data.partition(":")
    delivery_id = delivery_of(token, secret)
    if delivery_id is None or not index.isdigit():
        return None
    return delivery_id, int(index)


# What the n-th button of a template means: (event type, extra data). Index order follows the
# template's `buttons` list ("I'll come", "I can't come"; ratings 1 to 5).
ANSWERS: dict[str, list[tuple[str, dict[str, int]]]] = {
    "visit_reminder": [("attendance.confirmed", {}), ("attendance.declined", {})],
    "feedback_request": [("feedback.submitted", {"rating": n}) for n in range(1, 6)],
    "feedback_followup": [("feedback.submitted", {"rating": n}) for n in range(1, 6)],
}


def answer(template: str, index: int) -> tuple[str, dict[str, int]] | None:
    """The domain event a press of button `index` on a message of `template` stands for."""
    options = ANSWERS.get(template, [])
    return options[index] if 0 <= index < len(options) else None
