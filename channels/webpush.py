"""Standard Web Push (RFC 8030) with aes128gcm payloads (RFC 8291) and VAPID (RFC 8292)."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import http_ece
import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

from channels.base import OutgoingMessage, RecipientUnreachable, SendError, SendReceipt
from channels.http import make_client, post, unexpected
from domain.routing import live_webpush_subscriptions

PROVIDER = "webpush"
# Push services promise about 4 KB of encrypted payload; leave room for the record overhead.
MAX_PLAINTEXT = 3000
DEFAULT_TTL = 24 * 3600

# HTTP status -> the subscription is gone (delete it), or this message is refused.
DEAD_SUBSCRIPTION = frozenset({404, 410})
REFUSED = frozenset({400, 401, 403, 413})


def classify(endpoint: str, response: httpx.Response) -> SendError | None:
    if response.status_code in (200, 201, 202):
        return None
    if response.status_code in DEAD_SUBSCRIPTION:
        return RecipientUnreachable(
            f"webpush: subscription gone (HTTP {response.status_code})", address=endpoint, provider=PROVIDER
        )
    if response.status_code in REFUSED:
        return RecipientUnreachable(f"webpush refused: HTTP {response.status_code}", provider=PROVIDER)
    return unexpected(PROVIDER, response)


def _b64decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def encrypt(subscription: dict[str, Any], plaintext: bytes) -> bytes:
    """The aes128gcm body for one subscription, with a fresh sender key every time."""
    keys = subscription["keys"]
    return bytes(
        http_ece.encrypt(
            plaintext,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            dh=_b64decode(keys["p256dh"]),
            auth_secret=_b64decode(keys["auth"]),
            version="aes128gcm",
        )
    )


class WebPushAdapter:
    provider = PROVIDER

    def __init__(self, vapid_private_pem: str, subject: str, *, timeout: float = 10.0) -> None:
        self.vapid = Vapid.from_pem(vapid_private_pem.encode())
        self.subject = subject
        self.client = make_client(timeout)

    async def aclose(self) -> None:
        await self.client.aclose()

    def headers(self, endpoint: str, ttl: int) -> dict[str, str]:
        url = urlsplit(endpoint)
        claims = {
            "sub": self.subject,
            "aud": f"{url.scheme}://{url.netloc}",
            "exp": int(time.time()) + 12 * 3600,
        }
        signed: dict[str, str] = self.vapid.sign(claims)
        # pywebpush defaults TTL to 0 (dropped when the device is offline): always say how long.
        return {**signed, "Content-Encoding": "aes128gcm", "TTL": str(ttl), "Urgency": "high"}

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        subscriptions = live_webpush_subscriptions(message.recipient)
        if not subscriptions:
            raise RecipientUnreachable("webpush: no live subscription", provider=PROVIDER)
        subscription = subscriptions[-1]
        endpoint = str(subscription["endpoint"])
        # A character takes at most 4 bytes in UTF-8: this cap keeps the JSON whole and small enough.
        payload = {
            "title": (message.title or message.subject or "")[:100],
            "body": message.body[: MAX_PLAINTEXT // 4 - 100],
            "delivery_id": str(message.delivery_id or ""),
        }
        plaintext = json.dumps(payload, ensure_ascii=False).encode()
        ttl = DEFAULT_TTL
        if message.expires_at is not None:
            ttl = max(int((message.expires_at - datetime.now(UTC)).total_seconds()), 0)
        response = await post(
            self.client,
            PROVIDER,
            endpoint,
            content=encrypt(subscription, plaintext),
            headers=self.headers(endpoint, ttl),
        )
        error = classify(endpoint, response)
        if error is not None:
            raise error
        return SendReceipt(provider=PROVIDER, provider_message_id=response.headers.get("location", endpoint))
