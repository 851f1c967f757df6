"""A signed POST to the tenant's own system: HMAC-SHA256 over `<timestamp>.<body>`.

The receiver recomputes `sha256=` + hex(HMAC(secret, f"{X-Nudgeflow-Timestamp}.{raw body}")),
compares in constant time, and refuses timestamps older than a few minutes (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from channels.base import OutgoingMessage, RecipientUnreachable, SendError, SendReceipt
from channels.http import json_body, make_client, post, unexpected

PROVIDER = "webhook"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def classify(response: httpx.Response) -> SendError | None:
    if 200 <= response.status_code < 300:
        return None
    if response.status_code == 410:
        return RecipientUnreachable("webhook: the tenant's system says gone", provider=PROVIDER)
    return unexpected(PROVIDER, response)


class WebhookAdapter:
    provider = PROVIDER

    def __init__(self, url: str, secret: str, *, timeout: float = 10.0) -> None:
        self.url, self.secret = url, secret
        self.client = make_client(timeout)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        body = json.dumps(
            {
                "idempotency_key": message.idempotency_key,
                "delivery_id": message.delivery_id,
                "contact_id": message.recipient.id,
                "template": message.template,
                "locale": message.locale,
                "subject": message.subject,
                "title": message.title,
                "body": message.body,
                "buttons": message.buttons,
            },
            ensure_ascii=False,
        ).encode()
        return await self._post(body, message.idempotency_key)

    async def post_event(self, event: dict[str, Any], idempotency_key: str) -> SendReceipt:
        """A domain event for the tenant's backend (`slot.claimed`), signed like every message."""
        return await self._post(json.dumps(event, ensure_ascii=False).encode(), idempotency_key)

    async def _post(self, body: bytes, idempotency_key: str) -> SendReceipt:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Nudgeflow-Timestamp": timestamp,
            "X-Nudgeflow-Signature": signature(self.secret, timestamp, body),
            # The receiver dedupes on it: a retried activity may post the same message again.
            "Idempotency-Key": idempotency_key,
        }
        response = await post(self.client, PROVIDER, self.url, content=body, headers=headers)
        error = classify(response)
        if error is not None:
            raise error
        reference = json_body(response).get("id") or idempotency_key
        return SendReceipt(provider=PROVIDER, provider_message_id=str(reference))
