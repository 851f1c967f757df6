"""A clinic whose worker sends through real adapters pointed at the fake providers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.testing import WorkflowEnvironment

from channels.registry import build_adapters, close_adapters
from domain.settings import TenantSettings
from store import Store
from tests.channels.conftest import Fakes
from tests.store.backends import database_url
from tests.workflows.harness import Clinic, running_clinic

MOSCOW = ZoneInfo("Europe/Moscow")


@asynccontextmanager
async def clinic_with_fakes(
    env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path, **worker_options: Any
) -> AsyncIterator[Clinic]:
    # SQLite only: routing is the subject here, the store runs on both backends in tests/store.
    store = Store(database_url("sqlite", tmp_path))
    adapters = build_adapters(fakes.config())
    try:
        async with running_clinic(env, store, task_queue, adapters=adapters, **worker_options) as clinic:
            await store.put_settings(clinic.tenant, TenantSettings(timezone="Europe/Moscow"))
            await clinic.wait_until_local(time(12, 0))  # noon in Moscow: outside quiet hours
            yield clinic
    finally:
        await close_adapters(adapters)
        await store.close()


async def local_day(clinic: Clinic, days: int, at: time) -> datetime:
    today = (await clinic.now()).astimezone(MOSCOW).date()
    return datetime.combine(today + timedelta(days=days), at, tzinfo=MOSCOW)
