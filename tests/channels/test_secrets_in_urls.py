"""Secrets that ride in URLs: the Telegram bot token, SMS Aero's callback secret, Twilio's signed query."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import uvicorn
from temporalio.testing import WorkflowEnvironment

import logs
from api.app import create_app
from channels.base import ChannelAdapter
from config import Settings
from domain.contacts import Channel
from store import Store
from tests.channels.conftest import Fakes
from tests.channels.test_adapters import message, recipient
from tests.fakes import smsaero, twilio
from tests.ports import free_port
from tests.store.backends import database_url


class Lines(logging.Handler):
    """Every formatted line a logger hands out, at any level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def everything_logged() -> Iterator[Lines]:
    root = logging.getLogger()
    lines, level = Lines(), root.level
    root.addHandler(lines)
    root.setLevel(logging.DEBUG)
    yield lines
    root.removeHandler(lines)
    root.setLevel(level)


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = Store(database_url("sqlite", tmp_path))
    yield opened
    await opened.close()


async def test_no_log_line_carries_the_telegram_bot_token(
    fakes: Fakes, adapters: dict[Channel, ChannelAdapter], everything_logged: Lines
) -> None:
    create_app(Settings())  # the API's logging, as uvicorn --factory builds it
    logs.configure()  # and the worker's
    contact, _, _ = recipient(fakes, Channel.TELEGRAM)
    await adapters[Channel.TELEGRAM].send(message(Channel.TELEGRAM, contact))
    assert not [line for line in everything_logged.lines if fakes.telegram.token in line]
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING


async def test_the_access_log_keeps_no_query_string(
    fakes: Fakes, store: Store, time_env: WorkflowEnvironment
) -> None:
    app = create_app(Settings(), store=store, temporal=time_env.client)
    app.state.channels = fakes.config()
    access, lines = logging.getLogger("uvicorn.access"), Lines()
    access.addHandler(lines)
    port = free_port()
    # uvicorn's own access logging, as `cli.py run` starts it (log_config=None keeps the test's handlers).
    config = uvicorn.Config(app, port=port, log_config=None, log_level="info", access_log=True, lifespan="on")
    server = uvicorn.Server(config)
    try:
        async with _serving(server):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                report = smsaero.delivery_report("9001", 1)
                answer = await client.post("/v1/inbound/smsaero?secret=aero-secret", json=report)
                assert answer.status_code == 200
    finally:
        access.removeHandler(lines)
    assert any("/v1/inbound/smsaero" in line for line in lines.lines), lines.lines
    assert not [line for line in lines.lines if "aero-secret" in line]


@asynccontextmanager
async def _serving(server: uvicorn.Server) -> AsyncIterator[None]:
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        await task


async def test_a_twilio_callback_url_with_a_query_string_checks(
    fakes: Fakes, store: Store, time_env: WorkflowEnvironment
) -> None:
    app = create_app(Settings(), store=store, temporal=time_env.client)
    app.state.channels = fakes.config(public_base_url="https://nudge.example")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://internal:8000") as api:
            path = "/v1/inbound/twilio?tenant=demo&route=sms"
            form, signed = twilio.status_callback(
                f"https://nudge.example{path}", "SM1", "delivered", fakes.twilio.auth_token
            )
            assert (await api.post(path, data=form, headers=signed)).status_code == 204
            form, unsigned_query = twilio.status_callback(
                "https://nudge.example/v1/inbound/twilio", "SM1", "delivered", fakes.twilio.auth_token
            )
            assert (await api.post(path, data=form, headers=unsigned_query)).status_code == 401
            # Signed with the default port written out, as some of Twilio's requests are.
            form, with_port = twilio.status_callback(
                f"https://nudge.example:443{path}", "SM1", "delivered", fakes.twilio.auth_token
            )
            assert (await api.post(path, data=form, headers=with_port)).status_code == 204
