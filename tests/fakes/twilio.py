"""A fake Twilio Messages API (form-encoded, HTTP Basic) and its signed StatusCallback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import Answers, FakeProvider


def _error(
    http: int, code: int, message: str, headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": http,
    }
    return http, body, headers or {}


class FakeTwilio(FakeProvider):
    answers: ClassVar[Answers] = {
        "invalid_number": _error(400, 21211, "The 'To' number is not a valid phone number."),
        "unsubscribed": _error(400, 21610, "Attempt to send to unsubscribed recipient"),
        "not_mobile": _error(400, 21614, "'To' number is not a valid mobile number"),
        "too_many": _error(429, 20429, "Too Many Requests", {"Retry-After": "2"}),
        "server_error": _error(500, 20500, "Internal Server Error"),
    }

    def __init__(
        self, account_sid: str = "AC" + "0" * 32, auth_token: str = "twilio-token", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.account_sid, self.auth_token = account_sid, auth_token
        self.credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._ids = itertools.count(1)

    async def create(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Basic {self.credentials}":
            return JSONResponse(_error(401, 20003, "Authenticate")[1], 401)
        form = {key: str(value) for key, value in (await request.form()).items()}
        to = form.get("To", "")
        answer = self.next_answer(to)
        self.requests.append({"to": to, "payload": form, "answer": answer})
        scripted = await self.scripted(answer)
        if scripted is not None:
            return scripted
        sid = f"SM{next(self._ids):032x}"
        body = {
            "sid": sid, "status": "queued", "to": to, "from": form.get("From"), "body": form.get("Body"),
            "num_segments": "1", "error_code": None, "error_message": None, "price": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }  # fmt: skip
        return JSONResponse(body, 201)

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/2010-04-01/Accounts/{sid}/Messages.json", self.create, methods=["POST"])]
        )


def status_callback(
    url: str, sid: str, status: str, auth_token: str, error_code: str | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """The form Twilio posts to StatusCallback, and its X-Twilio-Signature header."""
    form = {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": "AC",
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        form["ErrorCode"] = error_code
    signed = url + "".join(name + form[name] for name in sorted(form))
    signature = base64.b64encode(
        hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    ).decode()
    return form, {"X-Twilio-Signature": signature}
