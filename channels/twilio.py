"""Twilio Messages API, for SMS to every country without a cheaper local gateway."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx

from channels.base import OutgoingMessage, ProviderUnavailable, RecipientUnreachable, SendError, SendReceipt
from channels.http import json_body, make_client, post, request, unexpected

PROVIDER = "twilio"

# Twilio error `code` -> the number is dead for SMS (invalid, unsubscribed with STOP, landline).
DEAD_NUMBER = frozenset({21211, 21610, 21612, 21614, 21635})
# The account, not the number: trial restrictions, bad credentials.
REFUSED = frozenset({20003, 21608})


def classify(phone: str, response: httpx.Response) -> SendError | None:
    body = json_body(response)
    if response.status_code in (200, 201) and "sid" in body:
        return None
    code = body.get("code")
    if code in DEAD_NUMBER:
        return RecipientUnreachable(f"twilio {code}: {body.get('message')}", address=phone, provider=PROVIDER)
    if code in REFUSED:
        return RecipientUnreachable(f"twilio {code}: {body.get('message')}", provider=PROVIDER)
    return unexpected(PROVIDER, response)


class TwilioAdapter:
    provider = PROVIDER
    # Patients' replies come back through the number's incoming-message webhook (api/inbound.py).
    receives_replies = True

    def __init__(
        self,
        base_url: str,
        account_sid: str,
        auth_token: str,
        sender: str,
        *,
        status_callback: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.sender, self.status_callback = sender, status_callback
        self.path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.client = make_client(timeout, base_url=base_url.rstrip("/"), auth=(account_sid, auth_token))

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        phone = message.recipient.phone or ""
        form = {"To": phone, "From": self.sender, "Body": _body(message)}
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        response = await post(self.client, PROVIDER, self.path, data=form)
        error = classify(phone, response)
        if error is not None:
            raise error
        body = json_body(response)
        # Twilio prices a message later (negative, in the account's currency); null until then.
        price = body.get("price")
        return SendReceipt(
            provider=PROVIDER, provider_message_id=str(body["sid"]), cost=abs(float(price)) if price else 0.0
        )

    async def lookup(self, message: OutgoingMessage, since: datetime) -> list[SendReceipt]:
        """Twilio keeps no reference of ours: the message to this number, with this body, created
        since the uncertain attempt began (Messages list, filtered by To and DateSent>=)."""
        params = {
            "To": message.recipient.phone or "",
            "DateSent>": since.date().isoformat(),
            "PageSize": "50",
        }
        response = await request(self.client, PROVIDER, "GET", self.path, params=params)
        if response.status_code != 200:
            raise ProviderUnavailable(f"twilio lookup: HTTP {response.status_code}", provider=PROVIDER)
        body = _body(message)
        return [
            SendReceipt(provider=PROVIDER, provider_message_id=str(found["sid"]))
            for found in json_body(response).get("messages") or []
            if found.get("body") == body
            and parsedate_to_datetime(str(found.get("date_created"))) >= since.replace(microsecond=0)
        ]


def _body(message: OutgoingMessage) -> str:
    return message.body[:1600]


def valid_signature(auth_token: str, url: str, params: Mapping[str, str], header: str | None) -> bool:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the URL followed by each POST param's name+value, sorted."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return header is not None and hmac.compare_digest(base64.b64encode(digest).decode(), header)
