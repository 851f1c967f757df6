"""A fake tenant system receiving signed webhooks; it checks the signature like a tenant should."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import Answers, FakeProvider


class FakeTenantSystem(FakeProvider):
    answers: ClassVar[Answers] = {
        "gone": (410, {"error": "no such receiver"}, {}),
        "server_error": (500, {"error": "oops"}, {}),
        "rate_limited": (429, {"error": "slow down"}, {"Retry-After": "2"}),
    }

    def __init__(self, secret: str = "tenant-secret", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.secret = secret

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        timestamp = request.headers.get("x-nudgeflow-timestamp", "")
        expected = (
            "sha256="
            + hmac.new(self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(expected, request.headers.get("x-nudgeflow-signature", "")):
            return JSONResponse({"error": "bad signature"}, 401)
        payload = json.loads(body)
        answer = self.next_answer(str(payload.get("contact_id")))
        self.requests.append({"payload": payload, "answer": answer})
        scripted = await self.scripted(answer)
        if scripted is not None:
            return scripted
        return JSONResponse({"id": f"rcv-{len(self.requests)}"})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hooks/nudgeflow", self.receive, methods=["POST"])])
