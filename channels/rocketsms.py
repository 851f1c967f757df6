"""rocketsms.by (Belarus, +375): `POST /simple/send` with the login and the password's md5."""

from __future__ import annotations

import httpx

from channels.base import OutgoingMessage, RecipientUnreachable, SendError, SendReceipt
from channels.http import json_body, make_client, post, unexpected

PROVIDER = "rocketsms"

# Errors come in the body, reportedly with HTTP 200.
DEAD_NUMBER = frozenset({"BAD_PHONE", "NO_PHONE"})
REFUSED = frozenset({"NO_MESSAGE", "WRONG_AUTH", "SENDER_BAD_FORMAT", "SENDER_TOO_LONG"})


def classify(phone: str, response: httpx.Response) -> SendError | None:
    body = json_body(response)
    error = body.get("error")
    if response.status_code == 200 and error is None and "id" in body:
        return None
    if error in DEAD_NUMBER:
        return RecipientUnreachable(f"rocketsms: {error}", address=phone, provider=PROVIDER)
    if error in REFUSED:
        return RecipientUnreachable(f"rocketsms refused: {error}", provider=PROVIDER)
    return unexpected(PROVIDER, response)


class RocketSmsAdapter:
    provider = PROVIDER

    def __init__(
        self, base_url: str, username: str, password_md5: str, sender: str | None, *, timeout: float = 10.0
    ) -> None:
        self.auth = {"username": username, "password": password_md5}
        self.sender = sender
        self.client = make_client(timeout, base_url=base_url.rstrip("/"))

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        phone = message.recipient.phone or ""
        form = {**self.auth, "phone": phone.lstrip("+"), "text": message.body}
        if self.sender:
            form["sender"] = self.sender
        response = await post(self.client, PROVIDER, "/simple/send", data=form)
        error = classify(phone, response)
        if error is not None:
            raise error
        body = json_body(response)
        cost = body.get("cost") or {}
        return SendReceipt(
            provider=PROVIDER, provider_message_id=str(body["id"]), cost=float(cost.get("money") or 0)
        )
