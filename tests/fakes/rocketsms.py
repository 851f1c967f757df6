"""A fake rocketsms.by: /simple/send with form credentials; errors in the body with HTTP 200."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import Answers, FakeProvider


class FakeRocketSms(FakeProvider):
    answers: ClassVar[Answers] = {
        "bad_phone": (200, {"error": "BAD_PHONE"}, {}),
        "no_message": (200, {"error": "NO_MESSAGE"}, {}),
        "server_error": (503, {"error": "SERVICE_UNAVAILABLE"}, {}),
        "rate_limited": (429, {"error": "TOO_MANY_REQUESTS"}, {"Retry-After": "2"}),
    }

    def __init__(
        self,
        username: str = "190000000",
        password_md5: str = "5f4dcc3b5aa765d61d8327deb882cf99",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.username, self.password_md5 = username, password_md5
        self._ids = itertools.count(700)

    async def send(self, request: Request) -> Response:
        form = {key: str(value) for key, value in (await request.form()).items()}
        if (form.get("username"), form.get("password")) != (self.username, self.password_md5):
            return JSONResponse({"error": "WRONG_AUTH"})
        phone = form.get("phone", "")
        answer = self.next_answer(phone)
        self.requests.append({"phone": phone, "payload": form, "answer": answer})
        scripted = await self.scripted(answer)
        if scripted is not None:
            return scripted
        return JSONResponse(
            {"id": next(self._ids), "status": "QUEUED", "cost": {"credits": 1, "money": 0.05}}
        )

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/simple/send", self.send, methods=["POST"])])
