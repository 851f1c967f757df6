"""A fake Telegram Bot API: sendMessage with the real error bodies, answerCallbackQuery, updates.

Like the real Bot API it has flood control: above ~30 messages a second from the bot, or above one a
second to a chat (a short burst of a few passes), it answers 429 with `parameters.retry_after`
(core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).
"""

from __future__ import annotations

import itertools
import math
import time
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


class Bucket:
    """A token bucket: `burst` messages at once, refilled at `per_second`."""

    def __init__(self, per_second: float, burst: float) -> None:
        self.per_second, self.burst = per_second, burst
        self.tokens, self.at = burst, time.monotonic()

    def take(self) -> float:
        """0 when a message may pass (and takes its token), else the seconds until one may."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.per_second)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.per_second


class FakeTelegram(FakeProvider):
    answers: ClassVar[Answers] = {
        "blocked": _error(403, "Forbidden: bot was blocked by the user"),
        "cant_initiate": _error(403, "Forbidden: bot can't initiate conversation with a user"),
        "deactivated": _error(403, "Forbidden: user is deactivated"),
        "chat_not_found": _error(400, "Bad Request: chat not found"),
        "flood": _error(429, "Too Many Requests: retry after 3", retry_after=3),
        "bad_gateway": _error(502, "Bad Gateway"),
    }

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        bot_per_second: float = 30.0,
        chat_per_second: float = 1.0,
        chat_burst: float = 3.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.token = token
        self._ids = itertools.count(100)
        # Flood control: the bot's bucket (a second's worth of burst) and one per chat.
        self.chat_per_second, self.chat_burst = chat_per_second, chat_burst
        self.bot_bucket = Bucket(bot_per_second, bot_per_second)
        self.chat_buckets: dict[str, Bucket] = {}

    def flooded(self, chat_id: str) -> int | None:
        """The `retry_after` (whole seconds, as Telegram gives it) when this message is over a limit."""
        chat = self.chat_buckets.setdefault(chat_id, Bucket(self.chat_per_second, self.chat_burst))
        wait = chat.take()
        if wait:
            return math.ceil(wait)
        wait = self.bot_bucket.take()
        if wait:
            chat.tokens += 1  # not sent: the chat keeps its turn
            return math.ceil(wait)
        return None

    def flood_answers(self) -> int:
        return sum(1 for r in self.requests if r.get("answer") == "flood_control")

    async def send_message(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        payload = await request.json()
        chat_id = str(payload.get("chat_id"))
        answer = self.next_answer(chat_id)
        wait = self.flooded(chat_id) if answer == "ok" else None
        if wait is not None:
            flood = {
                "chat_id": chat_id,
                "payload": payload,
                "answer": "flood_control",
                "at": time.monotonic(),
            }
            self.requests.append(flood)
            status, body, headers = _error(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
            return JSONResponse(body, status_code=status, headers=headers)
        self.requests.append(
            {"chat_id": chat_id, "payload": payload, "answer": answer, "at": time.monotonic()}
        )
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
