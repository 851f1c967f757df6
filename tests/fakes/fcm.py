"""A fake FCM HTTP v1: its own OAuth token endpoint and messages:send with FcmError envelopes."""

from __future__ import annotations

import itertools
import secrets
from typing import Any, ClassVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import Answers, FakeProvider


def _error(
    http: int, status: str, code: str, message: str, retry_after: str | None = None
) -> tuple[int, Any, dict[str, str]]:
    detail = {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}
    body = {"error": {"code": http, "message": message, "status": status, "details": [detail]}}
    return http, body, {"Retry-After": retry_after} if retry_after else {}


class FakeFcm(FakeProvider):
    answers: ClassVar[Answers] = {
        "unregistered": _error(404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
        "invalid_token": _error(
            400,
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "The registration token is not a valid FCM registration token",
        ),
        "sender_mismatch": _error(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch"),
        "quota": _error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded.", retry_after="2"),
        "unavailable": _error(
            503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable.", retry_after="1"
        ),
        "internal": _error(500, "INTERNAL", "INTERNAL", "Internal error encountered."),
    }

    def __init__(self, project_id: str = "nudge-test", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project_id = project_id
        self.token = secrets.token_urlsafe(16)
        self.grants: list[dict[str, str]] = []
        self._ids = itertools.count(1)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def service_account(self) -> dict[str, str]:
        """A key file like Google's, with token_uri pointing at this fake."""
        pem = self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": f"sender@{self.project_id}.iam.gserviceaccount.com",
            "token_uri": f"{self.url}/token",
        }

    async def grant(self, request: Request) -> Response:
        form = {key: str(value) for key, value in (await request.form()).items()}
        self.grants.append(form)
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or not form.get(
            "assertion"
        ):
            return JSONResponse({"error": "invalid_grant"}, 400)
        return JSONResponse({"access_token": self.token, "expires_in": 3599, "token_type": "Bearer"})

    async def send(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse(
                {"error": {"code": 401, "message": "unauthenticated", "status": "UNAUTHENTICATED"}}, 401
            )
        payload = await request.json()
        token = str(payload["message"].get("token"))
        answer = self.next_answer(token)
        self.requests.append({"token": token, "payload": payload, "answer": answer})
        scripted = await self.scripted(answer)
        if scripted is not None:
            return scripted
        return JSONResponse({"name": f"projects/{self.project_id}/messages/{next(self._ids)}"})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/token", self.grant, methods=["POST"]),
                Route("/v1/projects/{project}/messages:send", self.send, methods=["POST"]),
            ]
        )
