"""A burst of Telegram messages goes at the bot's pace: no 429 storm, none lost, none twice.

On the real dev server (time-skipping would skip the very waits the pace makes), with a fake Bot API
of its own whose flood control answers 429 above its limits, like Telegram's.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from channels.config import ChannelsConfig
from channels.pacing import get_pacing_config
from channels.registry import build_adapters, close_adapters
from domain.settings import TenantSettings
from store import Store
from tests.factories import appointment, patient
from tests.fakes.telegram import FakeTelegram
from tests.store.backends import database_url
from tests.workflows.harness import Clinic, running_clinic

pytestmark = [pytest.mark.usefixtures("real_paces"), pytest.mark.alone]


@asynccontextmanager
async def clinic_with_bot(
    env: WorkflowEnvironment, fake: FakeTelegram, task_queue: str, tmp_path: Path
) -> AsyncIterator[Clinic]:
    config = ChannelsConfig(
        channel_timeout=5.0,
        reply_secret=SecretStr("test-reply-secret"),
        telegram_base_url=fake.url,
        telegram_bot_token=SecretStr(fake.token),
    )
    adapters = build_adapters(config)
    store = Store(database_url("sqlite", tmp_path))
    try:
        # Unsandboxed, as the production worker runs (worker.workflow_runner): the sandbox's CPU on
        # a small machine would delay every send's wake-up alike and bunch them at the fake.
        async with running_clinic(env, store, task_queue, adapters=adapters, sandboxed=False) as clinic:
            # No quiet hours: every confirmation is due the moment it is posted.
            await store.put_settings(clinic.tenant, TenantSettings(timezone="UTC", quiet_hours=None))
            yield clinic
    finally:
        await close_adapters(adapters)
        await store.close()


async def confirm_many(clinic: Clinic, count: int, chat: Callable[[int], str]) -> None:
    starts_at = datetime.now(UTC) + timedelta(days=3)
    await asyncio.gather(
        *(
            clinic.post(
                "appointment.confirmed",
                appointment(
                    f"pace-{i}",
                    starts_at,
                    patient=patient(id=f"p-{i}", phone=None, telegram_chat_id=chat(i)),
                ),
                settle=False,
            )
            for i in range(count)
        )
    )


async def until_sent(fake: FakeTelegram, count: int, patience: float) -> None:
    for _ in range(int(patience / 0.2)):
        if len(fake.sent()) >= count:
            return
        await asyncio.sleep(0.2)


@pytest.fixture
def bot_paced_at_5(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Our pace for the bot: 5 a second, well below what this worker sends unpaced (~15/s here)."""
    monkeypatch.setenv("NUDGEFLOW_PACING_TELEGRAM_BOT_PER_SECOND", "5")
    get_pacing_config.cache_clear()
    yield
    get_pacing_config.cache_clear()


async def test_120_confirmations_due_at_once_reach_a_30_a_second_bot_once_each_with_no_flood_answer(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    # Given a bot whose Bot API answers 429 above 30 messages a second
    fake = FakeTelegram()
    fake.start()
    try:
        async with clinic_with_bot(dev_env, fake, task_queue, tmp_path) as clinic:
            # When 120 patients' confirmations fall due at once
            await confirm_many(clinic, 120, lambda i: str(700_000 + i))
            await until_sent(fake, 120, patience=90)
            await asyncio.sleep(1.0)  # a duplicate would arrive now
            rows = [row for i in range(120) for row in await clinic.deliveries(f"pace-{i}")]
    finally:
        fake.stop()

    # Then each chat got its message once, and Telegram never had to say "too many"
    sent = fake.sent()
    assert sorted(r["chat_id"] for r in sent) == sorted(str(700_000 + i) for i in range(120))
    assert fake.flood_answers() == 0
    assert [row.status.value for row in rows] == ["sent"] * 120
    times = sorted(r["at"] for r in sent)
    assert len(sent) / (times[-1] - times[0]) <= 30


async def test_a_burst_goes_at_the_pace_set_for_the_bot(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, bot_paced_at_5: None
) -> None:
    fake = FakeTelegram()
    fake.start()
    try:
        async with clinic_with_bot(dev_env, fake, task_queue, tmp_path) as clinic:
            # When 60 confirmations fall due at once to a bot we pace at 5 a second
            await confirm_many(clinic, 60, lambda i: str(705_000 + i))
            await until_sent(fake, 60, patience=90)
            await asyncio.sleep(1.0)
    finally:
        fake.stop()

    # Then they are spread over the 59 intervals of 1/5 s the pace forces, each sent once
    sent = fake.sent()
    assert sorted(r["chat_id"] for r in sent) == sorted(str(705_000 + i) for i in range(60))
    times = sorted(r["at"] for r in sent)
    assert times[-1] - times[0] >= 59 / 5 * 0.95


async def test_a_bot_slower_than_we_thought_is_honoured_by_retry_after_and_nothing_goes_twice(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    # Given a bot Telegram holds to 10 messages a second, while we pace it at 30
    fake = FakeTelegram(bot_per_second=10)
    fake.start()
    try:
        async with clinic_with_bot(dev_env, fake, task_queue, tmp_path) as clinic:
            # When 40 confirmations fall due at once
            await confirm_many(clinic, 40, lambda i: str(710_000 + i))
            await until_sent(fake, 40, patience=90)
            await asyncio.sleep(1.0)
            rows = [row for i in range(40) for row in await clinic.deliveries(f"pace-{i}")]
    finally:
        fake.stop()

    # Then its 429s held every send back for their retry_after, and each message went once
    accepted = collections.Counter(r["chat_id"] for r in fake.sent())
    assert accepted == collections.Counter(str(710_000 + i) for i in range(40))
    assert [row.status.value for row in rows] == ["sent"] * 40
    floods = fake.flood_answers()
    assert 0 < floods < 40  # a pause for everyone after the first "too many", not a storm
