"""A fake SMS Aero v2 gateway: /sms/send behind HTTP Basic, and its delivery callback."""

from __future__ import annotations

import base64
import itertools
import time
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import Answers, FakeProvider


class FakeSmsAero(FakeProvider):
    answers: ClassVar[Answers] = {
        "unavailable": (503, {"success": False, "message": "Service Unavailable"}, {}),
        "bad_number": (
            400,
            {"success": False, "data": None, "message": "Validation error: invalid number"},
            {},
        ),
        "no_credits": (200, {"result": "no credits"}, {}),
        "server_error": (500, {"success": False, "message": "Internal Server Error"}, {}),
        "rate_limited": (429, {"success": False, "message": "Too Many Requests"}, {"Retry-After": "2"}),
    }

    def __init__(self, email: str = "ops@clinic.example", api_key: str = "k" * 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.credentials = base64.b64encode(f"{email}:{api_key}".encode()).decode()
        self._ids = itertools.count(5000)
        self.messages: list[dict[str, Any]] = []

    async def send(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Basic {self.credentials}":
            return JSONResponse({"success": False, "data": None, "message": "Unauthorized"}, 401)
        payload = await request.json()
        number = str(payload.get("number"))
        answer = self.next_answer(number)
        self.requests.append({"number": number, "payload": payload, "answer": answer})
        scripted = await self.scripted(answer)
        if scripted is not None:
            return scripted
        data = {
            "id": next(self._ids),
            "from": payload.get("sign"),
            "number": number,
            "text": payload.get("text"),
            "status": 0,
            "extendStatus": "queue",
            "channel": "FREE SIGN",
            "cost": 5.49,
            "dateCreate": int(time.time()),
            "dateSend": int(time.time()),
        }
        self.messages.insert(0, data)
        return await self.accepted(answer, JSONResponse({"success": True, "data": data, "message": None}))

    async def list(self, request: Request) -> Response:
        """POST /sms/list {number?, text?, page?}: the history, newest first, keyed "0", "1", …"""
        if request.headers.get("authorization") != f"Basic {self.credentials}":
            return JSONResponse({"success": False, "data": None, "message": "Unauthorized"}, 401)
        query = await request.json()
        number, text = query.get("number"), query.get("text")
        found = [
            m for m in self.messages
            if (not number or str(number) == m["number"]) and (not text or text == m["text"])
        ]  # fmt: skip
        data: dict[str, Any] = {str(n): m for n, m in enumerate(found[:30])}
        data |= {"links": {"self": "/v2/sms/list?page=1"}, "totalCount": str(len(found))}
        return JSONResponse({"success": True, "data": data, "message": None})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/sms/send", self.send, methods=["POST"]),
                Route("/sms/list", self.list, methods=["POST"]),
            ]
        )


def delivery_report(message_id: str, status: int) -> dict[str, Any]:
    """The callback body (callbackFormat=JSON); its exact shape is unconfirmed, so the engine reads
    only `id`, `status` and `extendStatus`."""
    return {
        "id": int(message_id),
        "status": status,
        "extendStatus": {1: "delivery", 2: "failed"}.get(status, ""),
    }
