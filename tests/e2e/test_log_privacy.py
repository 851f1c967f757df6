"""The logs of a whole run, API at INFO with its access log, worker sending through Telegram: no
patient's name or phone, no bot token, no secret in any line."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from store import migrate
from tests.e2e.stack import Stack, wait_healthy
from tests.e2e.test_end_to_end import FAST_SETTINGS, KEY, deliveries
from tests.factories import appointment, patient
from tests.fakes import smsaero, telegram
from tests.fakes.telegram import FakeTelegram

pytestmark = pytest.mark.slow


def start_api_at_info(stack: Stack) -> None:
    """The API as `cli.py run` starts it: uvicorn's default logging, access log included."""
    argv = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
    stack.api = stack._spawn("api", [*argv, "--host", "127.0.0.1", "--port", str(stack.port)])
    wait_healthy(stack.url, stack.logs / "api.log")


@pytest.mark.lasts(8)
async def test_the_logs_of_a_whole_run_hold_no_personal_data_or_secret(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    bot = FakeTelegram(token=f"777{run[:4]}:BOT-TOKEN-{run}")
    bot.start()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'nudgeflow.db'}"
    migrate(database_url)
    stack = Stack(dev_env.client.service_client.config.target_host, database_url, f"privacy-{run}", tmp_path)
    secrets = {
        "NUDGEFLOW_TELEGRAM_BOT_TOKEN": bot.token,
        "NUDGEFLOW_TELEGRAM_WEBHOOK_SECRET": f"tg-hook-{run}",
        "NUDGEFLOW_SMSAERO_CALLBACK_SECRET": f"aero-callback-{run}",
        "NUDGEFLOW_REPLY_SECRET": f"reply-secret-{run}-{'r' * 24}",
        "NUDGEFLOW_SECRET_KEY": f"session-secret-{run}-{'s' * 24}",
    }
    stack.env.update({**secrets, "NUDGEFLOW_TELEGRAM_BASE_URL": bot.url})
    chat, name, phone = (
        f"55{run[:6].translate(str.maketrans('abcdef', '123456'))}",
        f"Zinaida{run}",
        "+79994441122",
    )
    try:
        start_api_at_info(stack)
        stack.start_worker(sandboxed=False)
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            assert (await client.put("/v1/settings", json=FAST_SETTINGS, headers=KEY)).status_code == 200
            person = patient(id=f"p-{run}", name=name, phone=phone, telegram_chat_id=chat)
            starts_at = datetime.now(UTC) + timedelta(days=2)
            event = {
                "specversion": "1.0",
                "id": f"evt-{run}",
                "source": "/e2e/backend",
                "type": "appointment.confirmed",
                "subject": f"a-{run}",
                "tenant": "demo",
                "data": appointment(f"a-{run}", starts_at, patient=person),
            }
            headers = {**KEY, "Content-Type": "application/cloudevents+json"}
            assert (await client.post("/v1/events", json=event, headers=headers)).status_code == 202
            deadline = time.monotonic() + 60
            while not [d for d in await deliveries(client, f"appointment:a-{run}") if d["status"] == "sent"]:
                assert time.monotonic() < deadline, "the confirmation never went out"
                await asyncio.sleep(0.5)
            assert [r for r in bot.requests if r.get("chat_id") == chat]  # it went through Telegram
            report = smsaero.delivery_report("424242", 1)
            callback = f"/v1/inbound/smsaero?secret={secrets['NUDGEFLOW_SMSAERO_CALLBACK_SECRET']}"
            assert (await client.post(callback, json=report)).status_code == 200
            update = telegram.start_update(chat, "s1_2_3_4")
            hook = {"X-Telegram-Bot-Api-Secret-Token": secrets["NUDGEFLOW_TELEGRAM_WEBHOOK_SECRET"]}
            assert (await client.post("/v1/inbound/telegram", json=update, headers=hook)).status_code == 200
    finally:
        stack.stop()
        bot.stop()
    logged = "\n".join(path.read_text(errors="replace") for path in sorted(tmp_path.glob("*.log")))  # noqa: ASYNC240
    assert "/v1/inbound/smsaero" in logged  # the access log is there, and it is read
    leaks = {
        what: value
        for what, value in {**secrets, "name": name, "phone": phone.lstrip("+")}.items()
        if value in logged
    }
    assert not leaks, leaks
