"""A fake Telegram Bot API: sendMessage with the real error bodies, answerCallbackQuery, updates."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import Answers, FakeProvider


def _error(code: int, description: str, **parameters: Any) -> tuple[int, Any, dict[str, str]]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return code, body, {}


class FakeTelegram(FakeProvider):
    answers: ClassVar[Answers] = {
        "blocked": _error(403, "Forbidden: bot was blocked by the user"),
        "cant_initiate": _error(403, "Forbidden: bot can't initiate conversation with a user"),
        "deactivated": _error(403, "Forbidden: user is deactivated"),
        "chat_not_found": _error(400, "Bad Request: chat not found"),
        "flood": _error(429, "Too Many Requests: retry after 3", retry_after=3),
        "bad_gateway": _error(502, "Bad Gateway"),
    }

    def __init__(self, token: str = "123456:TEST-TOKEN", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token = token
        self._ids = itertools.count(100)

    async def send_message(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        payload = await request.json()
        chat_id = str(payload.get("chat_id"))
        answer = self.next_answer(chat_id)
        self.requests.append({"chat_id": chat_id, "payload": payload, "answer": answer})
        scripted = await self.scripted(answer)
        if scripted is not None:
            return scripted
        message = {
            "message_id": next(self._ids),
            "date": 1_700_000_000,
            "chat": {"id": int(chat_id), "type": "private"},
            "text": payload.get("text", ""),
        }
        return await self.accepted(answer, JSONResponse({"ok": True, "result": message}))

    async def answer_callback(self, request: Request) -> Response:
        self.requests.append({"method": "answerCallbackQuery", "payload": await request.json()})
        return JSONResponse({"ok": True, "result": True})

    async def deliver(self, webhook_url: str, secret: str, update: dict[str, Any]) -> httpx.Response:
        """Post an update to the bot's webhook as Telegram does; a `sendMessage` in the webhook's
        answer is carried out like a Bot API call, so its text reaches the chat here."""
        async with httpx.AsyncClient() as client:
            response = await client.post(
                webhook_url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}
            )
        answer = response.json() if response.status_code == 200 else {}
        if answer.get("method") == "sendMessage":
            payload = {key: value for key, value in answer.items() if key != "method"}
            self.requests.append({"chat_id": str(answer["chat_id"]), "payload": payload, "answer": "ok"})
        return response

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/bot{token}/sendMessage", self.send_message, methods=["POST"]),
                Route("/bot{token}/answerCallbackQuery", self.answer_callback, methods=["POST"]),
            ]
        )


_updates = itertools.count(1)


def callback_update(chat_id: str, data: str) -> dict[str, Any]:
    """The Update Telegram posts when someone presses an inline button."""
    user = {"id": int(chat_id), "is_bot": False, "first_name": "Anna"}
    return {
        "update_id": next(_updates),
        "callback_query": {
            "id": f"cq-{next(_updates)}",
            "from": user,
            "message": {
                "message_id": 100,
                "date": 1_700_000_000,
                "chat": {"id": int(chat_id), "type": "private"},
            },
            "chat_instance": "-1",
            "data": data,
        },
    }


def start_update(chat_id: str, payload: str) -> dict[str, Any]:
    """The Update for `/start <payload>` from a t.me deep link."""
    return {
        "update_id": next(_updates),
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": {"id": int(chat_id), "type": "private"},
            "from": {"id": int(chat_id), "is_bot": False, "first_name": "Anna"},
            "text": f"/start {payload}",
        },
    }
