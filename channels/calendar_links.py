"""Add-to-calendar links: `/c/<token>`, where the token names a delivery row about an appointment.

`c<delivery id, hex>_<expiry, hex>_<nonce>_<tag>`, the tag 96 bits of HMAC-SHA256 with
NUDGEFLOW_REPLY_SECRET under the label `calendar:`, so no button or deep-link token
(channels/replies.py) is one and knowing a delivery id helps nobody make one. No personal data:
what the link shows is read from the appointment's lifecycle when it is opened (api/calendar_link.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

TOKEN = re.compile(r"^c([0-9a-f]{1,15})_([0-9a-f]{1,10})_([0-9a-f]{8})_([0-9a-f]{24})$")
# Long enough for a visit booked months ahead and a rescheduled one after it.
LINK_TTL = timedelta(days=400)


def _tag(delivery_id: int, expires: int, nonce: str, secret: str) -> str:
    message = f"calendar:{delivery_id}:{expires}:{nonce}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:24]


def calendar_token(delivery_id: int, secret: str, now: datetime) -> str:
    """The token of `/c/{token}` for the appointment a delivery is about."""
    expires = int((now + LINK_TTL).timestamp())
    nonce = secrets.token_hex(4)
    return f"c{delivery_id:x}_{expires:x}_{nonce}_{_tag(delivery_id, expires, nonce, secret)}"


def calendar_delivery(token: str, secret: str, now: datetime) -> int | None:
    match = TOKEN.match(token)
    if match is None:
        return None
    delivery_id, expires = int(match.group(1), 16), int(match.group(2), 16)
    expected = _tag(delivery_id, expires, match.group(3), secret)
    if not hmac.compare_digest(match.group(4), expected) or expires < now.timestamp():
        return None
    return delivery_id


def calendar_url(base_url: str, delivery_id: int, secret: str, now: datetime) -> str:
    return f"{base_url.rstrip('/')}/c/{calendar_token(delivery_id, secret, now)}"
