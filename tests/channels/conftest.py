"""Fake providers on loopback, and adapters pointed at them with a short timeout."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from py_vapid import Vapid
from pydantic import SecretStr

from channels.config import ChannelsConfig
from channels.registry import build_adapters, close_adapters
from tests.fakes.fcm import FakeFcm
from tests.fakes.rocketsms import FakeRocketSms
from tests.fakes.smsaero import FakeSmsAero
from tests.fakes.smtp import FakeSmtp
from tests.fakes.telegram import FakeTelegram
from tests.fakes.tenant_webhook import FakeTenantSystem
from tests.fakes.twilio import FakeTwilio
from tests.fakes.webpush import FakePushService
from tests.fakes.whatsapp import FakeWhatsApp

# An adapter gives up on a hung provider after this long; fakes hang twice as long. The fakes answer
# from a thread of the test's own process: at 0.5 s, a Telegram call that the fake answered at once
# timed out in a full parallel run on 2 vCPU (2026-12-04, fresh clone of ccd30f0).
TIMEOUT = 1.0
HANG = 2.0
VAPID = Vapid()
VAPID.generate_keys()


class Fakes:
    """Every provider's fake, started together (they are cheap: one thread each)."""

    def __init__(self) -> None:
        self.telegram = FakeTelegram(hang_seconds=HANG)
        self.whatsapp = FakeWhatsApp(hang_seconds=HANG)
        self.smsaero = FakeSmsAero(hang_seconds=HANG)
        self.rocketsms = FakeRocketSms(hang_seconds=HANG)
        self.twilio = FakeTwilio(hang_seconds=HANG)
        self.fcm = FakeFcm(hang_seconds=HANG)
        self.webpush = FakePushService(hang_seconds=HANG)
        self.tenant = FakeTenantSystem(hang_seconds=HANG)
        self.smtp = FakeSmtp(hang_seconds=HANG)
        self.http = [
            self.telegram, self.whatsapp, self.smsaero, self.rocketsms,
            self.twilio, self.fcm, self.webpush, self.tenant,
        ]  # fmt: skip

    def start(self) -> Fakes:
        for fake in self.http:
            fake.start()
        self.smtp.start()
        return self

    def stop(self) -> None:
        for fake in self.http:
            fake.stop()
        self.smtp.stop()

    def config(self, **overrides: Any) -> ChannelsConfig:
        """Settings as NUDGEFLOW_* variables would give them, every base URL at a fake."""
        values: dict[str, Any] = {
            "channel_timeout": TIMEOUT,
            "reply_secret": SecretStr("test-reply-secret"),
            "telegram_base_url": self.telegram.url,
            "telegram_bot_token": SecretStr(self.telegram.token),
            "telegram_webhook_secret": SecretStr("tg-hook-secret"),
            "whatsapp_base_url": self.whatsapp.url,
            "whatsapp_access_token": SecretStr(self.whatsapp.token),
            "whatsapp_phone_number_id": self.whatsapp.phone_number_id,
            "whatsapp_app_secret": SecretStr("meta-app-secret"),
            "whatsapp_verify_token": SecretStr("meta-verify"),
            "smsaero_base_url": self.smsaero.url,
            "smsaero_email": "ops@clinic.example",
            "smsaero_api_key": SecretStr("k" * 32),
            "smsaero_callback_secret": SecretStr("aero-secret"),
            "rocketsms_base_url": self.rocketsms.url,
            "rocketsms_username": self.rocketsms.username,
            "rocketsms_password_md5": SecretStr(self.rocketsms.password_md5),
            "twilio_base_url": self.twilio.url,
            "twilio_account_sid": self.twilio.account_sid,
            "twilio_auth_token": SecretStr(self.twilio.auth_token),
            "twilio_from": "+15005550006",
            "fcm_base_url": self.fcm.url,
            "fcm_project_id": self.fcm.project_id,
            "fcm_service_account_json": SecretStr(json.dumps(self.fcm.service_account())),
            "webpush_vapid_private_key": SecretStr(VAPID.private_pem().decode()),
            "email_host": "127.0.0.1",
            "email_port": self.smtp.port,
            "email_from": "clinic@nudge.example",
            "email_start_tls": False,
            "webhook_url": f"{self.tenant.url}/hooks/nudgeflow",
            "webhook_secret": SecretStr(self.tenant.secret),
        }
        return ChannelsConfig(**(values | overrides))


@pytest.fixture(scope="session")
def fakes() -> Iterator[Fakes]:
    started = Fakes().start()
    yield started
    started.stop()


@pytest_asyncio.fixture
async def adapters(fakes: Fakes) -> AsyncIterator[dict[Any, Any]]:
    built = build_adapters(fakes.config())
    yield built
    await close_adapters(built)
