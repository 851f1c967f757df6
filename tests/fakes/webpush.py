"""A fake push service (RFC 8030): checks VAPID, decrypts the aes128gcm body as a browser would."""

from __future__ import annotations

import base64
import itertools
import json
import os
from typing import Any, ClassVar

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import Answers, FakeProvider


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakePushService(FakeProvider):
    answers: ClassVar[Answers] = {
        "gone": (410, {"errno": 106, "message": "push subscription has unsubscribed or expired"}, {}),
        "not_found": (404, {"errno": 102, "message": "Not Found"}, {}),
        "too_large": (413, {"errno": 104, "message": "Payload Too Large"}, {}),
        "rate_limited": (429, {"errno": 999, "message": "Too Many Requests"}, {"Retry-After": "2"}),
        "unavailable": (503, {"errno": 201, "message": "Service Unavailable"}, {}),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.browsers: dict[str, tuple[ec.EllipticCurvePrivateKey, bytes]] = {}
        self._ids = itertools.count(1)

    def subscribe(self, name: str) -> dict[str, Any]:
        """What a browser's PushManager.subscribe() would hand the page."""
        key = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        self.browsers[name] = (key, auth)
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": f"{self.url}/push/{name}", "keys": {"p256dh": _b64(public), "auth": _b64(auth)}}

    async def push(self, request: Request) -> Response:
        name = request.path_params["name"]
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("vapid t=") or ",k=" not in authorization.replace(", k=", ",k="):
            return Response(status_code=401)
        body = await request.body()
        key, auth = self.browsers[name]
        plaintext = http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm")
        answer = self.next_answer(name)
        self.requests.append(
            {
                "name": name,
                "payload": json.loads(plaintext),
                "ttl": request.headers.get("ttl"),
                "answer": answer,
            }
        )
        scripted = await self.scripted(answer)
        if scripted is not None:
            return scripted
        return Response(status_code=201, headers={"Location": f"{self.url}/m/{next(self._ids)}"})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/push/{name}", self.push, methods=["POST"])])
