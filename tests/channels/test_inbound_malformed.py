"""Malformed bodies on every inbound route, correctly signed: a 4xx problem, never a 500."""

from __future__ import annotations

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
