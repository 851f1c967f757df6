"""A fake WhatsApp Cloud API: /messages with Graph error envelopes, the business account's
/message_templates, and signed webhooks to send back.

As Meta documents it: free-form messages (text, interactive) to a number outside its 24-hour window
are refused with 131047 "Re-engagement message"; interactive reply buttons are 1 to 3 with unique
ids of at most 256 characters and titles of at most 20, list rows at most 10 of 24 (else 131009);
a template whose language is registered here and not APPROVED is refused with 132001 (132015 when
paused). A template not registered at all is accepted, as the fake always did.
"""

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
        "bad_parameter": _error(400, 131009, "Parameter value is not valid"),
        "template_paused": _error(400, 132015, "Template is paused due to low quality"),
    }

    def __init__(self, phone_number_id: str = "1122334455", token: str = "wa-token", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.phone_number_id, self.token = phone_number_id, token
        # Numbers that wrote to us in the last 24 hours: free text to anyone else is refused.
        self.window: set[str] = set()
        # (name, language) -> Meta's status, as `GET /{waba}/message_templates` lists them.
        self.templates: dict[tuple[str, str], str] = {}
        self.business_account_id = "WABA-1"
        self._ids = itertools.count(1)

    def _refusal(self, to: str, payload: dict[str, Any]) -> str | None:
        """Why Meta would refuse this message, as one of `answers`; None when it is acceptable."""
        kind = payload.get("type")
        if kind in ("text", "interactive") and to not in self.window:
            return "outside_window"
        if kind == "interactive" and not _valid_interactive(payload.get("interactive") or {}):
            return "bad_parameter"
        if kind == "template":
            template = payload.get("template") or {}
            language = str((template.get("language") or {}).get("code"))
            status = self.templates.get((str(template.get("name")), language))
            if status == "PAUSED":
                return "template_paused"
            if status not in (None, "APPROVED"):
                return "template_missing"
            replies = [c for c in template.get("components", []) if c.get("sub_type") == "quick_reply"]
            if len(replies) > 10:
                return "bad_parameter"
        return None

    async def message_templates(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return await self.scripted("bad_token") or Response(status_code=500)
        if request.path_params["waba_id"] != self.business_account_id:
            return await self.scripted("bad_parameter") or Response(status_code=500)
        items = [
            {"name": name, "language": language, "status": status, "category": "UTILITY", "id": f"{i}"}
            for i, ((name, language), status) in enumerate(sorted(self.templates.items()))
        ]
        # Cursor pages of `limit`, as the Graph API pages its edges.
        limit, start = int(request.query_params.get("limit", 25)), int(request.query_params.get("after", 0))
        body: dict[str, Any] = {"data": items[start : start + limit], "paging": {}}
        if start + limit < len(items):
            body["paging"]["next"] = f"{request.url.replace(query='')}?limit={limit}&after={start + limit}"
        return JSONResponse(body)

    async def messages(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return await self.scripted("bad_token") or Response(status_code=500)
        payload = await request.json()
        to = str(payload.get("to"))
        answer = self.next_answer(to)
        if answer == "ok":
            answer = self._refusal(to, payload) or "ok"
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
        return Starlette(
            routes=[
                Route("/{phone_id}/messages", self.messages, methods=["POST"]),
                Route("/{waba_id}/message_templates", self.message_templates, methods=["GET"]),
            ]
        )


def _valid_interactive(interactive: dict[str, Any]) -> bool:
    action = interactive.get("action") or {}
    if interactive.get("type") == "button":
        replies = [b.get("reply") or {} for b in action.get("buttons") or []]
        ids, titles = [r.get("id") or "" for r in replies], [r.get("title") or "" for r in replies]
        return (
            1 <= len(replies) <= 3
            and all(0 < len(i) <= 256 for i in ids)
            and all(0 < len(t) <= 20 for t in titles)
            and len(set(ids)) == len(ids)
            and len(set(titles)) == len(titles)
        )
    if interactive.get("type") == "list":
        rows = [row for section in action.get("sections") or [] for row in section.get("rows") or []]
        return (
            0 < len(str(action.get("button") or "")) <= 20
            and 1 <= len(rows) <= 10
            and all(0 < len(r.get("id") or "") <= 200 and 0 < len(r.get("title") or "") <= 24 for r in rows)
        )
    return False


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


def button_press(phone: str, timestamp: int, reply_id: str, title: str, wamid: str) -> dict[str, Any]:
    """The webhook of a press on an interactive reply button (inside the window)."""
    message = {
        "from": phone.lstrip("+"),
        "id": wamid,
        "timestamp": str(timestamp),
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}},
    }
    return _envelope({"contacts": [{"wa_id": phone.lstrip("+")}], "messages": [message]})


def quick_reply(phone: str, timestamp: int, payload: str, text: str, wamid: str) -> dict[str, Any]:
    """The webhook of a press on a template's quick-reply button: `button.payload`."""
    message = {
        "from": phone.lstrip("+"),
        "id": wamid,
        "timestamp": str(timestamp),
        "type": "button",
        "button": {"payload": payload, "text": text},
    }
    return _envelope({"contacts": [{"wa_id": phone.lstrip("+")}], "messages": [message]})


def signed(payload: dict[str, Any], app_secret: str) -> tuple[bytes, dict[str, str]]:
    """The raw body and headers Meta would post, signed with X-Hub-Signature-256."""
    body = json.dumps(payload).encode()
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}
