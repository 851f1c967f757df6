"""A fake Twilio Messages API (form-encoded, HTTP Basic) and its signed StatusCallback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
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
        "unavailable": _error(503, 20503, "Service Unavailable"),
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
        # Messages Twilio took, newest first, as its Messages list returns them.
        self.messages: list[dict[str, Any]] = []

    async def create(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Basic {self.credentials}":
            return JSONResponse(_error(401, 20003, "Authenticate")[1], 401)
        form = {key: str(value) for key, value in (await request.form()).items()}
        to = form.get("To", "")
        answer = self.next_answer(to)
        # The client's port names the TCP connection the request came on.
        connection = request.client.port if request.client else None
        self.requests.append({"to": to, "payload": form, "answer": answer, "connection": connection})
        scripted = await self.scripted(answer)
        if scripted is not None:
            return scripted
        sid = f"SM{next(self._ids):032x}"
        body = {
            "sid": sid, "status": "queued", "to": to, "from": form.get("From"), "body": form.get("Body"),
            "num_segments": "1", "error_code": None, "error_message": None, "price": None,
            "date_created": format_datetime(datetime.now(UTC), usegmt=True),
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }  # fmt: skip
        self.messages.insert(0, body)
        return await self.accepted(answer, JSONResponse(body, 201))

    async def list(self, request: Request) -> Response:
        """GET Messages.json: filtered by To and DateSent>= (a date), newest first, one page."""
        if request.headers.get("authorization") != f"Basic {self.credentials}":
            return JSONResponse(_error(401, 20003, "Authenticate")[1], 401)
        to, since = request.query_params.get("To"), request.query_params.get("DateSent>")
        found = [
            m for m in self.messages
            if (to is None or m["to"] == to)
            and (since is None or parsedate_to_datetime(m["date_created"]).date().isoformat() >= since)
        ]  # fmt: skip
        return JSONResponse({"messages": found[: int(request.query_params.get("PageSize", 50))]})

    def app(self) -> Starlette:
        path = "/2010-04-01/Accounts/{sid}/Messages.json"
        return Starlette(
            routes=[Route(path, self.create, methods=["POST"]), Route(path, self.list, methods=["GET"])]
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


def incoming_message(
    url: str, sender: str, body: str, auth_token: str, sid: str, to: str = "+15005550006"
) -> tuple[dict[str, str], dict[str, str]]:
    """The form Twilio posts to a number's "a message comes in" webhook, and its signature."""
    form = {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": "AC",
        "MessagingServiceSid": "",
        "From": sender,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    signed = url + "".join(name + form[name] for name in sorted(form))
    signature = base64.b64encode(
        hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    ).decode()
    return form, {"X-Twilio-Signature": signature}
