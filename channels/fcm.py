"""Firebase Cloud Messaging HTTP v1, authorised by a service-account token (google-auth signs it)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import httpx

from channels.base import OutgoingMessage, ProviderUnavailable, RecipientUnreachable, SendError, SendReceipt
from channels.http import json_body, make_client, post, retry_after, unexpected
from domain.routing import live_push_tokens

if TYPE_CHECKING:
    from google.auth import crypt

PROVIDER = "fcm"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"

# FcmError.errorCode -> the registration token is dead, or this message is refused.
DEAD_TOKEN = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH"})
REFUSED = frozenset({"INVALID_ARGUMENT", "THIRD_PARTY_AUTH_ERROR", "APNS_AUTH_ERROR"})
TRANSIENT = frozenset({"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"})


def fcm_error_code(body: dict[str, Any]) -> str | None:
    for detail in (body.get("error") or {}).get("details") or []:
        if str(detail.get("@type", "")).endswith("FcmError"):
            return str(detail.get("errorCode"))
    return None


def classify(token: str, response: httpx.Response) -> SendError | None:
    body = json_body(response)
    if response.status_code == 200 and "name" in body:
        return None
    code = fcm_error_code(body)
    if code in DEAD_TOKEN or response.status_code == 404:
        return RecipientUnreachable(f"fcm: {code or 'not found'}", address=token, provider=PROVIDER)
    if code in TRANSIENT:
        wait = retry_after(response)
        return ProviderUnavailable(f"fcm: {code}", retry_after=wait, provider=PROVIDER)
    if code in REFUSED:
        # INVALID_ARGUMENT also covers "not a valid FCM registration token".
        message = str((body.get("error") or {}).get("message", ""))
        address = token if "registration token" in message else None
        return RecipientUnreachable(f"fcm: {code}", address=address, provider=PROVIDER)
    return unexpected(PROVIDER, response)


@lru_cache(maxsize=8)
def signer(private_key: str, key_id: str | None) -> crypt.RSASigner:
    """The service account's key, parsed once per process: cryptography checks an RSA key as it
    loads it (about 15 ms of CPU), and every build of the adapters would pay it again.
    google.auth is imported here, where FCM is configured: about 45 ms of every process's start."""
    from google.auth import crypt

    parsed: crypt.RSASigner = crypt.RSASigner.from_string(private_key, key_id)  # type: ignore[no-untyped-call]
    return parsed


class FcmAdapter:
    provider = PROVIDER
    max_payload = 4096

    def __init__(
        self, base_url: str, project_id: str, service_account: dict[str, Any], *, timeout: float = 10.0
    ) -> None:
        if "private_key" not in service_account:
            raise ValueError("the FCM service account has no private_key")
        self.signer = signer(service_account["private_key"], service_account.get("private_key_id"))
        self.account = service_account
        self.path = f"/v1/projects/{project_id}/messages:send"
        self.client = make_client(timeout, base_url=base_url.rstrip("/"))
        self._token: tuple[str, float] | None = None
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self.client.aclose()

    async def access_token(self) -> str:
        """A cached OAuth token from the JWT-bearer grant at the key file's token_uri."""
        async with self._lock:
            if self._token and self._token[1] > time.time() + 60:
                return self._token[0]
            from google.auth import jwt

            now = int(time.time())
            assertion = jwt.encode(  # type: ignore[no-untyped-call]
                self.signer,
                {
                    "iss": self.account["client_email"],
                    "scope": SCOPE,
                    "aud": GOOGLE_TOKEN_AUDIENCE,
                    "iat": now,
                    "exp": now + 3600,
                },
            )
            grant = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
            response = await post(self.client, PROVIDER, self.account["token_uri"], data=grant)
            body = json_body(response)
            if response.status_code != 200 or "access_token" not in body:
                raise ProviderUnavailable(f"fcm token grant: HTTP {response.status_code}", provider=PROVIDER)
            self._token = (str(body["access_token"]), now + float(body.get("expires_in", 3600)))
            return self._token[0]

    def payload(self, token: str, message: OutgoingMessage) -> dict[str, Any]:
        android: dict[str, Any] = {"priority": "HIGH"}
        if message.expires_at is not None:
            ttl = max(int((message.expires_at - datetime.now(UTC)).total_seconds()), 0)
            android["ttl"] = f"{ttl}s"
        data = {"delivery_id": str(message.delivery_id or "")}
        return {
            "message": {
                "token": token,
                "notification": {"title": message.title or message.subject or "", "body": message.body},
                "data": data,
                "android": android,
            }
        }

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        tokens = live_push_tokens(message.recipient)
        if not tokens:
            raise RecipientUnreachable("fcm: no live push token", provider=PROVIDER)
        # The newest token is the device the contact uses now.
        token = tokens[-1]
        headers = {"Authorization": f"Bearer {await self.access_token()}"}
        response = await post(
            self.client, PROVIDER, self.path, json=self.payload(token, message), headers=headers
        )
        error = classify(token, response)
        if error is not None:
            raise error
        return SendReceipt(provider=PROVIDER, provider_message_id=str(json_body(response)["name"]))
