"""WhatsApp Cloud API: free text inside the 24-hour window, an approved template outside it.

A message with answers carries them as buttons whose ids are our opaque reply tokens
(channels/replies.py): inside the window as interactive reply buttons (at most 3, titles of at most
20 characters) or, for more answers, an interactive list (at most 10 rows of 24); outside it as the
template's quick-reply buttons with the token as payload. They come back to /v1/inbound/whatsapp.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from channels.base import OutgoingMessage, ProviderUnavailable, RecipientUnreachable, SendError, SendReceipt
from channels.http import json_body, make_client, post, request, retry_after, unexpected
from channels.replies import BUTTON_TTL, button_data
from domain.routing import whatsapp_window_open
from domain.whatsapp_templates import TemplateStatus, meta_status

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
# Meta's limits on interactive messages: reply buttons, list rows, and the list's own button.
MAX_REPLY_BUTTONS, MAX_BUTTON_TITLE = 3, 20
MAX_LIST_ROWS, MAX_ROW_TITLE = 10, 24
MAX_QUICK_REPLIES = 10
LIST_BUTTON = {"ru": "Выбрать", "de": "Auswählen", "tr": "Seçin"}


def _title(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        self,
        base_url: str,
        access_token: str,
        phone_number_id: str,
        *,
        reply_secret: str | None = None,
        business_account_id: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.reply_secret = reply_secret
        self.base_url, self.access_token = base_url.rstrip("/"), access_token
        self.business_account_id, self.timeout = business_account_id, timeout
        self.client = make_client(
            timeout,
            base_url=f"{base_url.rstrip('/')}/{phone_number_id}",
            headers={"Authorization": f"Bearer {access_token}"},
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    def text(self, message: OutgoingMessage) -> dict[str, Any]:
        return {"type": "text", "text": {"preview_url": False, "body": message.body[: self.max_body]}}

    def reply_ids(self, message: OutgoingMessage) -> list[str]:
        """A signed token per button (the same for the free-form try and its template)."""
        if not message.buttons or message.delivery_id is None or self.reply_secret is None:
            return []
        expires_at = message.expires_at or datetime.now(UTC) + BUTTON_TTL
        return [
            button_data(message.delivery_id, i, self.reply_secret, expires_at)
            for i in range(len(message.buttons))
        ]

    def interactive(self, message: OutgoingMessage, ids: list[str]) -> dict[str, Any]:
        body = {"text": message.body[:1024]}
        if len(ids) <= MAX_REPLY_BUTTONS:
            buttons = [
                {"type": "reply", "reply": {"id": id_, "title": _title(text, MAX_BUTTON_TITLE)}}
                for id_, text in zip(ids, message.buttons, strict=True)
            ]
            action: dict[str, Any] = {"buttons": buttons}
            return {"type": "interactive", "interactive": {"type": "button", "body": body, "action": action}}
        rows = [
            {"id": id_, "title": _title(text, MAX_ROW_TITLE)}
            for id_, text in list(zip(ids, message.buttons, strict=True))[:MAX_LIST_ROWS]
        ]
        language = (message.locale or message.recipient.locale).split("-")[0].lower()
        action = {"button": LIST_BUTTON.get(language, "Choose"), "sections": [{"rows": rows}]}
        return {"type": "interactive", "interactive": {"type": "list", "body": body, "action": action}}

    def template(self, message: OutgoingMessage, ids: list[str] | None = None) -> dict[str, Any]:
        # Each template key is approved as a utility template per language with one body
        # parameter that carries the rendered text, and a quick-reply button per answer.
        language = message.template_language or (message.locale or message.recipient.locale).replace("-", "_")
        components: list[dict[str, Any]] = [
            {"type": "body", "parameters": [{"type": "text", "text": message.body}]}
        ]
        components += [
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": str(i),
                "parameters": [{"type": "payload", "payload": id_}],
            }
            for i, id_ in enumerate((ids or [])[:MAX_QUICK_REPLIES])
        ]
        return {
            "type": "template",
            "template": {
                "name": message.template or "notification",
                "language": {"code": language},
                "components": components,
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
        ids = self.reply_ids(message)
        if not in_window and not message.template_allowed:
            raise RecipientUnreachable("whatsapp: outside the 24-hour window and no approved template")
        free_form = self.interactive(message, ids) if ids else self.text(message)
        response = await self._post(phone, message, free_form if in_window else self.template(message, ids))
        if in_window and json_body(response).get("error", {}).get("code") == OUTSIDE_WINDOW:
            # Our window clock disagreed with Meta's: the template is the message that may go.
            if not message.template_allowed:
                raise RecipientUnreachable(
                    "whatsapp 131047: the 24-hour window has closed and no template is approved",
                    provider=PROVIDER,
                )
            in_window = False
            response = await self._post(phone, message, self.template(message, ids))
        error = classify(phone, response)
        if error is not None:
            raise error
        wamid = str(json_body(response)["messages"][0]["id"])
        return SendReceipt(
            provider=PROVIDER, provider_message_id=wamid, cost=0.0 if in_window else self.template_cost
        )

    async def template_statuses(
        self, page_size: int = 100
    ) -> list[tuple[str, str, TemplateStatus, str | None]]:
        """Every message template of the business account as (name, language, status, reason),
        from `GET /{WABA-ID}/message_templates`, following its cursor pages."""
        if not self.business_account_id:
            raise ProviderUnavailable("whatsapp: no business account id to read templates of")
        found: list[tuple[str, str, TemplateStatus, str | None]] = []
        url: str | None = f"{self.base_url}/{self.business_account_id}/message_templates"
        params: dict[str, Any] | None = {"fields": "name,language,status,rejected_reason", "limit": page_size}
        async with make_client(
            self.timeout, headers={"Authorization": f"Bearer {self.access_token}"}
        ) as client:
            for _ in range(100):  # a bound on pages: 10,000 templates
                if url is None:
                    break
                response = await request(client, PROVIDER, "GET", url, params=params)
                body = json_body(response)
                if response.status_code != 200 or not isinstance(body.get("data"), list):
                    raise unexpected(PROVIDER, response)
                for item in body["data"]:
                    reason = item.get("rejected_reason")
                    found.append(
                        (
                            str(item["name"]),
                            str(item["language"]),
                            meta_status(str(item.get("status", ""))),
                            None if reason in (None, "NONE") else str(reason),
                        )
                    )
                url, params = (body.get("paging") or {}).get("next"), None
        return found


def valid_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    """Meta's X-Hub-Signature-256: `sha256=` + hex HMAC-SHA256 of the raw body with the app secret."""
    expected = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)
