"""A fake WhatsApp Cloud API: /messages with Graph error envelopes, and signed webhooks to send back."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import Answers, FakeProvider


def _error(http: int, code: int, message: str, details: str = "") -> tuple[int, Any, dict[str, str]]:
    error = {
        "message": f"(#{code}) {message}",
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details or message},
        "fbtrace_id": "AbCdEf",
    }
    return http, {"error": error}, {}


class FakeWhatsApp(FakeProvider):
    answers: ClassVar[Answers] = {
        "not_on_whatsapp": _error(400, 131026, "Message undeliverable"),
        "outside_window": _error(400, 131047, "Re-engagement message", "More than 24 hours have passed"),
        "template_missing": _error(404, 132001, "Template name does not exist in the translation"),
        "throughput": _error(429, 130429, "Rate limit hit"),
        "pair_limit": _error(400, 131056, "(Business Account, Consumer Account) pair rate limit hit"),
        "server_error": _error(500, 131000, "Something went wrong"),
        "bad_token": _error(401, 190, "Error validating access token: Session has expired"),
    }

    def __init__(self, phone_number_id: str = "1122334455", token: str = "wa-token", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.phone_number_id, self.token = phone_number_id, token
        # Numbers that wrote to us in the last 24 hours: free text to anyone else is refused.
        self.window: set[str] = set()
        self._ids = itertools.count(1)

    async def messages(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return await self.scripted("bad_token") or Response(status_code=500)
        payload = await request.json()
        to = str(payload.get("to"))
        answer = self.next_answer(to)
        if answer == "ok" and payload.get("type") == "text" and to not in self.window:
            answer = "outside_window"
        self.requests.append({"to": to, "type": payload.get("type"), "payload": payload, "answer": answer})
        scripted = await self.scripted(answer)
        if scripted is not None:
            return scripted
        wamid = f"wamid.HBgL{next(self._ids):08d}"
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                "messages": [{"id": wamid, "message_status": "accepted"}],
            }
        )

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{phone_id}/messages", self.messages, methods=["POST"])])


def _envelope(value: dict[str, Any]) -> dict[str, Any]:
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1122334455"}, **value}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
    }


def status_webhook(wamid: str, status: str, timestamp: int, error_code: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(timestamp), "recipient_id": "0"}
    if error_code is not None:
        entry["errors"] = [
            {"code": error_code, "title": "Message undeliverable", "error_data": {"details": ""}}
        ]
    return _envelope({"statuses": [entry]})


def inbound_message(phone: str, timestamp: int, text: str = "Hello") -> dict[str, Any]:
    message = {
        "from": phone.lstrip("+"),
        "id": "wamid.IN",
        "timestamp": str(timestamp),
        "type": "text",
        "text": {"body": text},
    }
    return _envelope({"contacts": [{"wa_id": phone.lstrip("+")}], "messages": [message]})


def signed(payload: dict[str, Any], app_secret: str) -> tuple[bytes, dict[str, str]]:
    """The raw body and headers Meta would post, signed with X-Hub-Signature-256."""
    body = json.dumps(payload).encode()
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}
