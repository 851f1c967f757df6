"""Malformed bodies on every inbound route, correctly signed: a 4xx problem, never a 500."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.channels.conftest import Fakes
from tests.channels.test_answers import open_desk
from tests.channels.test_inbound import Desk
from tests.fakes import twilio, whatsapp

TELEGRAM = {"X-Telegram-Bot-Api-Secret-Token": "tg-hook-secret"}


@pytest_asyncio.fixture
async def desk(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> AsyncIterator[Desk]:
    async with open_desk(time_env, fakes, task_queue, tmp_path) as opened:
        yield opened


def meta(payload: Any) -> tuple[bytes, dict[str, str]]:
    if isinstance(payload, bytes):
        digest = hmac.new(b"meta-app-secret", payload, hashlib.sha256).hexdigest()
        return payload, {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}
    return whatsapp.signed(payload, "meta-app-secret")


WHATSAPP_BODIES: list[Any] = [
    b"not json",
    b"[1, 2]",
    {"entry": "nope"},
    {"entry": [{"changes": [{"value": {"messages": [{"type": "text"}]}}]}]},
    {"entry": [{"changes": [{"value": {"messages": [{"from": "447700900123", "timestamp": "soon"}]}}]}]},
    {"entry": [{"changes": [{"value": {"statuses": [{"status": "read", "timestamp": "1"}]}}]}]},
]
TELEGRAM_BODIES: list[Any] = [
    "not json",
    [],
    {"callback_query": {"data": "x"}},
    {"message": "hello"},
]


@pytest.mark.parametrize("payload", WHATSAPP_BODIES)
async def test_a_malformed_whatsapp_webhook_is_a_4xx(desk: Desk, payload: Any) -> None:
    body, headers = meta(payload)
    answer = await desk.api.post("/v1/inbound/whatsapp", content=body, headers=headers)
    assert 400 <= answer.status_code < 500, answer.text


@pytest.mark.parametrize("payload", TELEGRAM_BODIES)
async def test_a_malformed_telegram_update_is_a_4xx(desk: Desk, payload: Any) -> None:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    answer = await desk.api.post("/v1/inbound/telegram", content=body, headers=TELEGRAM)
    assert 400 <= answer.status_code < 500, answer.text


async def test_malformed_sms_callbacks_are_4xx(desk: Desk, fakes: Fakes) -> None:
    for body in (b"not json", b'{"id": 1, "status": "delivered"}', b"[]"):
        answer = await desk.api.post(
            "/v1/inbound/smsaero?secret=aero-secret",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert 400 <= answer.status_code < 500, answer.text
    form, signature = twilio.incoming_message(
        "http://nudgeflow/v1/inbound/twilio", "whatsapp:+447700900123", "hi", fakes.twilio.auth_token, "SM1"
    )
    answer = await desk.api.post("/v1/inbound/twilio", data=form, headers=signature)
    assert answer.status_code == 400


TWILIO_URL = "http://nudgeflow/v1/inbound/twilio"


def twilio_signed(form: dict[str, str], token: str) -> dict[str, str]:
    """Twilio's signature over a form as it documents it (URL, then each name and value, sorted)."""
    signed = TWILIO_URL + "".join(name + form[name] for name in sorted(form))
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return {"X-Twilio-Signature": base64.b64encode(digest).decode()}


def incoming(**changes: str | None) -> dict[str, str]:
    form = {"MessageSid": "SM9", "From": "+447700900123", "To": "+15005550006", "Body": "2"}
    form |= {"SmsStatus": "received"}
    for name, value in changes.items():
        if value is None:
            form.pop(name, None)
        else:
            form[name] = value
    return form


# Twilio is the only SMS gateway here that delivers patients' replies (README, "Answers").
TWILIO_FORMS: dict[str, dict[str, str]] = {
    "no MessageSid": incoming(MessageSid=None),
    "empty MessageSid": incoming(MessageSid=""),
    "no From": incoming(From=None),
    "From not E.164": incoming(From="447700900123"),
    "From a WhatsApp address": incoming(From="whatsapp:+447700900123"),
    "a NUL in the text": incoming(Body="2\x00"),
    "a NUL in the sender": incoming(From="+4477009\x0000123"),
    "a text over 10,000 characters": incoming(Body="2" * 10_001),
    "an over-long MessageSid": incoming(MessageSid="SM" + "9" * 600),
}


@pytest.mark.parametrize("form", TWILIO_FORMS.values(), ids=list(TWILIO_FORMS))
async def test_a_malformed_incoming_sms_is_a_4xx(desk: Desk, fakes: Fakes, form: dict[str, str]) -> None:
    headers = twilio_signed(form, fakes.twilio.auth_token)
    answer = await desk.api.post("/v1/inbound/twilio", data=form, headers=headers)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


RAW_BODIES: dict[str, tuple[bytes, str]] = {
    "JSON instead of a form": (b'{"Body": "2", "From": "+447700900123"}', "application/json"),
    "bytes that are not UTF-8": (
        b"MessageSid=SM1&From=%2B447700900123&Body=%FF%FE",
        "application/x-www-form-urlencoded",
    ),
    "multipart without a boundary": (b"--x\r\n", "multipart/form-data"),
}


@pytest.mark.parametrize("raw", RAW_BODIES.values(), ids=list(RAW_BODIES))
async def test_an_incoming_sms_body_that_is_no_form_is_a_4xx(
    desk: Desk, fakes: Fakes, raw: tuple[bytes, str]
) -> None:
    body, content_type = raw
    headers = {**twilio_signed({}, fakes.twilio.auth_token), "Content-Type": content_type}
    answer = await desk.api.post("/v1/inbound/twilio", content=body, headers=headers)
    assert 400 <= answer.status_code < 500, answer.text
