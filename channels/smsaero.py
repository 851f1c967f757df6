"""SMS Aero (Russia, +7), API v2: `POST /sms/send` with HTTP Basic email:api_key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from channels.base import OutgoingMessage, ProviderUnavailable, RecipientUnreachable, SendError, SendReceipt
from channels.http import json_body, make_client, post, unexpected

PROVIDER = "smsaero"

# Legacy `result` values the official SDKs still handle; both need the operator, not a retry.
REFUSED_RESULTS = frozenset({"no credits", "reject"})


def classify(phone: str, response: httpx.Response) -> SendError | None:
    body = json_body(response)
    if response.status_code == 200 and body.get("success") is True:
        return None
    if response.status_code >= 500 or response.status_code == 429:
        return unexpected(PROVIDER, response)
    message = str(body.get("message") or body.get("reason") or body.get("result") or "")
    if body.get("success") is False and "number" in message.lower():
        return RecipientUnreachable(f"smsaero: {message}", address=phone, provider=PROVIDER)
    if body.get("success") is False or body.get("result") in REFUSED_RESULTS:
        return RecipientUnreachable(f"smsaero refused: {message}", provider=PROVIDER)
    return unexpected(PROVIDER, response)


class SmsAeroAdapter:
    provider = PROVIDER

    def __init__(
        self,
        base_url: str,
        email: str,
        api_key: str,
        sign: str,
        *,
        callback_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.sign, self.callback_url = sign, callback_url
        self.client = make_client(timeout, base_url=base_url.rstrip("/"), auth=(email, api_key))

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        phone = message.recipient.phone or ""
        body: dict[str, Any] = {"number": phone.lstrip("+"), "text": message.body, "sign": self.sign}
        if self.callback_url:
            body |= {"callbackUrl": self.callback_url, "callbackFormat": "JSON"}
        response = await post(self.client, PROVIDER, "/sms/send", json=body)
        error = classify(phone, response)
        if error is not None:
            raise error
        data = json_body(response)["data"]
        return SendReceipt(
            provider=PROVIDER, provider_message_id=str(data["id"]), cost=float(data.get("cost") or 0)
        )

    async def lookup(self, message: OutgoingMessage, since: datetime) -> list[SendReceipt]:
        """`sms/list` filtered by number and text: the message if SMS Aero created it since `since`.

        `data` holds the messages keyed "0", "1", … beside `links` and `totalCount` (or as a list)."""
        phone = (message.recipient.phone or "").lstrip("+")
        response = await post(
            self.client, PROVIDER, "/sms/list", json={"number": phone, "text": message.body}
        )
        body = json_body(response)
        if response.status_code != 200 or body.get("success") is not True:
            raise ProviderUnavailable(f"smsaero lookup: HTTP {response.status_code}", provider=PROVIDER)
        data = body.get("data") or {}
        found = data.values() if isinstance(data, dict) else data
        return [
            SendReceipt(
                provider=PROVIDER, provider_message_id=str(sms["id"]), cost=float(sms.get("cost") or 0)
            )
            for sms in found
            if isinstance(sms, dict)
            and "id" in sms
            and int(sms.get("dateCreate") or 0) >= int(since.timestamp())
        ]
