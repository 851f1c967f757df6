"""The Temporal UI's codec server: `POST /codec/decode` and `/codec/encode` for a signed-in staff admin.

Histories hold payloads encrypted (workflows/codec.py); the Temporal UI, pointed at
`<API>/codec` with "include cross-origin credentials" on, sends them here with the staff cookie
and shows the decrypted form. The protocol is Temporal's: JSON `{"payloads": [{"metadata": {...},
"data": "..."}]}`, every byte string in base64. The payloads of every tenant share one key, so only
admins decode, and only origins in NUDGEFLOW_CODEC_CORS_ORIGINS may call from a browser.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from google.protobuf import json_format
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payloads

from api.limits import read_body
from api.problems import Problem
from api.staff.web import NotSignedIn, current_user, require_role
from config import Settings
from store.staff import Role, StaffUser
from workflows.codec import EncryptionCodec, PayloadKeyError

PREFIX = "/codec"
# Temporal's gRPC messages stop at 4 MB; a request for more is no history's payloads.
MAX_BODY_BYTES = 4 * 1024 * 1024

_BYTES = {"type": "string", "format": "byte"}
PAYLOADS = {
    "type": "object",
    "required": ["payloads"],
    "properties": {
        "payloads": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "metadata": {"type": "object", "additionalProperties": _BYTES},
                    "data": _BYTES,
                },
            },
        }
    },
}
BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": PAYLOADS}}}}
ANSWER: dict[int | str, dict[str, Any]] = {200: {"content": {"application/json": {"schema": PAYLOADS}}}}

router = APIRouter(prefix=PREFIX, tags=["codec"])


async def staff_admin(request: Request) -> StaffUser:
    """The signed-in admin; a JSON 401 (not the console's redirect to the login page) without one."""
    try:
        user = await current_user(request)
    except NotSignedIn:
        raise Problem(401, "Unauthorized", "sign in to the staff console in this browser first") from None
    require_role(user, Role.ADMIN)
    return user


Admin = Annotated[StaffUser, Depends(staff_admin)]


async def _payloads(request: Request) -> Payloads:
    body = await read_body(request, MAX_BODY_BYTES)
    try:
        return json_format.Parse(body, Payloads(), ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, RecursionError):  # not JSON, not UTF-8, too deep
        raise Problem(400, "Bad request", 'send {"payloads": [{"metadata": {...}, "data": "..."}]}') from None


def _answer(payloads: Payloads) -> Response:
    return Response(json_format.MessageToJson(payloads), media_type="application/json")


@router.post("/decode", openapi_extra=BODY, responses=ANSWER)
async def decode(request: Request, user: Admin) -> Response:
    codec: EncryptionCodec = request.app.state.payload_codec
    try:
        decoded = await codec.decode((await _payloads(request)).payloads)
    except PayloadKeyError as exc:
        raise Problem(422, "Cannot decode", str(exc)) from None
    return _answer(Payloads(payloads=decoded))


@router.post("/encode", openapi_extra=BODY, responses=ANSWER)
async def encode(request: Request, user: Admin) -> Response:
    codec: EncryptionCodec = request.app.state.payload_codec
    return _answer(Payloads(payloads=await codec.encode((await _payloads(request)).payloads)))


class CodecCors:
    """CORS for /codec only (the rest of the API answers no other origin), credentials included."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_credentials=True,
            allow_methods=["POST"],
            allow_headers=["content-type", "x-namespace", "authorization"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(PREFIX + "/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def mount(app: FastAPI, settings: Settings) -> None:
    app.state.payload_codec = EncryptionCodec(settings.payload_keyring())
    app.add_middleware(CodecCors, origins=settings.codec_origins())
    app.include_router(router)
