"""WhatsApp Cloud API: free text inside the 24-hour window, an approved template outside it."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from channels.base import OutgoingMessage, ProviderUnavailable, RecipientUnreachable, SendError, SendReceipt
from channels.http import json_body, make_client, post, retry_after, unexpected
from domain.routing import whatsapp_window_open

PROVIDER = "whatsapp"

# Graph `error.code` -> what it means for us. Meta asks to key on the code, not the HTTP status.
NOT_ON_WHATSAPP = frozenset({131026})
OUTSIDE_WINDOW = 131047
REFUSED = frozenset(
    {
        0, 3, 10, 100, 190, 368,  # auth, permissions, bad parameters: the operator must act
        131005, 131008, 131009, 131021, 131030, 131031, 131042, 131049, 131050, 131051,
        132000, 132001, 132005, 132007, 132008, 132012, 132015, 132016,  # template problems
    }
)  # fmt: skip
RATE_LIMITED = {4: 60, 80007: 60, 130429: 1, 131056: 6, 131048: 600}  # code -> seconds to wait
TRANSIENT = frozenset({1, 2, 131000, 131016})


def classify(phone: str, response: httpx.Response) -> SendError | None:
    body = json_body(response)
    if response.status_code == 200 and body.get("messages"):
        return None
    error = body.get("error") or {}
    code = error.get("code")
    details = str((error.get("error_data") or {}).get("details") or error.get("message") or "")
    if code in NOT_ON_WHATSAPP:
        return RecipientUnreachable(f"whatsapp {code}: {details}", address=phone, provider=PROVIDER)
    if code == OUTSIDE_WINDOW or code in REFUSED:
        return RecipientUnreachable(f"whatsapp {code}: {details}", provider=PROVIDER)
    if code in RATE_LIMITED:
        wait = retry_after(response) or timedelta(seconds=RATE_LIMITED[code])
        return ProviderUnavailable(f"whatsapp {code} rate limit", retry_after=wait, provider=PROVIDER)
    if code in TRANSIENT:
        return ProviderUnavailable(f"whatsapp {code}: {details}", provider=PROVIDER)
    return unexpected(PROVIDER, response)


class WhatsAppAdapter:
    provider = PROVIDER
    max_body = 4096
    # What a template message costs against free text in the window, for the receipt.
    template_cost = 0.03

    def __init__(
        self, base_url: str, access_token: str, phone_number_id: str, *, timeout: float = 10.0
    ) -> None:
        self.client = make_client(
            timeout,
            base_url=f"{base_url.rstrip('/')}/{phone_number_id}",
            headers={"Authorization": f"Bearer {access_token}"},
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    def text(self, message: OutgoingMessage) -> dict[str, Any]:
        return {"type": "text", "text": {"preview_url": False, "body": message.body[: self.max_body]}}

    def template(self, message: OutgoingMessage) -> dict[str, Any]:
        # Each template key is approved as a utility template per language with one body
        # parameter that carries the rendered text.
        language = (message.locale or message.recipient.locale).replace("-", "_")
        return {
            "type": "template",
            "template": {
                "name": message.template or "notification",
                "language": {"code": language},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": message.body}]}],
            },
        }

    async def _post(self, phone: str, message: OutgoingMessage, content: dict[str, Any]) -> httpx.Response:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": phone, **content}
        if message.delivery_id is not None:
            body["biz_opaque_callback_data"] = str(message.delivery_id)
        return await post(self.client, PROVIDER, "/messages", json=body)

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        phone = message.recipient.phone
        if not phone:
            raise RecipientUnreachable("whatsapp: the contact has no phone", provider=PROVIDER)
        in_window = whatsapp_window_open(message.recipient, datetime.now(UTC))
        response = await self._post(
            phone, message, self.text(message) if in_window else self.template(message)
        )
        if in_window and json_body(response).get("error", {}).get("code") == OUTSIDE_WINDOW:
            # Our window clock disagreed with Meta's: the template is the message that may go.
            in_window = False
            response = await self._post(phone, message, self.template(message))
        error = classify(phone, response)
        if error is not None:
            raise error
        wamid = str(json_body(response)["messages"][0]["id"])
        return SendReceipt(
            provider=PROVIDER, provider_message_id=wamid, cost=0.0 if in_window else self.template_cost
        )


def valid_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    """Meta's X-Hub-Signature-256: `sha256=` + hex HMAC-SHA256 of the raw body with the app secret."""
    expected = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)
