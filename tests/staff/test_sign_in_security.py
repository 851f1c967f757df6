"""Staff sign-in as an attacker tries it: a flood, guessing one account, a copied cookie, framing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from argon2 import PasswordHasher
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.staff.auth import LoginThrottle
from config import Settings
from store import Store
from store.staff import MAX_FAILED_LOGINS, Role
from tests.staff.server import PASSWORD, staff_user
from tests.staff.test_pages import csrf, sign_in

# SQL that differs by backend: each test runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

SECRET = "x" * 40


@pytest_asyncio.fixture
async def api(store: Store, dev_env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url="sqlite://"), store=store, temporal=dev_env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://staff") as client:
            yield client


async def test_a_flood_of_bad_sign_ins_does_not_hold_the_event_loop(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = csrf((await api.get("/staff/login")).text)
    # Watch argon2 itself (the library, not our code): which threads it runs on.
    hashing_threads: set[int] = set()
    verify = PasswordHasher.verify

    def watched(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        hashing_threads.add(threading.get_ident())
        return verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", watched)

    async def bad_sign_in(n: int) -> int:
        form = {"email": f"nobody{n}@demo.local", "password": "guess", "csrf_token": token}
        return (await api.post("/staff/login", data=form)).status_code

    flood = asyncio.gather(*(bad_sign_in(n) for n in range(16)))
    await asyncio.sleep(0.01)
    for _ in range(5):  # the app answers beside the flood
        assert (await api.get("/healthz")).status_code == 200
    assert set(await flood) == {401}
    # The guard is where argon2 ran. A time limit on those health answers was not one: with the
    # hashing forced onto the loop they still came back in milliseconds, before the first hash
    # began (measured here), so the limit could only fail on a loaded CI machine.
    assert hashing_threads and threading.get_ident() not in hashing_threads  # never on the loop


async def test_an_account_locks_after_repeated_wrong_passwords(api: httpx.AsyncClient, store: Store) -> None:
    email = await staff_user(store, "demo", Role.EDITOR)
    for _ in range(MAX_FAILED_LOGINS):
        assert (await sign_in(api, email, "wrong password")).status_code == 401
    locked = await sign_in(api, email, PASSWORD)  # the right password, too late
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 60
    assert (await api.get("/staff/templates")).status_code == 303  # not signed in


async def test_one_address_is_throttled_across_accounts(api: httpx.AsyncClient, store: Store) -> None:
    api._transport.app.state.login_throttle = LoginThrottle(limit=3)  # type: ignore[attr-defined]
    for n in range(3):
        assert (await sign_in(api, f"guess{n}@demo.local", "guess")).status_code == 401
    throttled = await sign_in(api, await staff_user(store, "demo", Role.EDITOR))
    assert throttled.status_code == 429 and "retry-after" in throttled.headers


def test_the_throttle_forgets_old_attempts_and_forgives_a_success() -> None:
    throttle = LoginThrottle(limit=2, window=60)
    assert throttle.admit("10.0.0.1", now=0) is None and throttle.admit("10.0.0.1", now=1) is None
    assert throttle.admit("10.0.0.1", now=2) == 58
    assert throttle.admit("10.0.0.2", now=2) is None  # another address is another count
    assert throttle.admit("10.0.0.1", now=61) is None
    throttle.forgive("10.0.0.1")
    assert throttle.admit("10.0.0.1", now=62) is None


async def test_a_session_cookie_copied_before_sign_out_is_worthless_after(
    api: httpx.AsyncClient, store: Store
) -> None:
    await sign_in(api, await staff_user(store, "demo", Role.EDITOR))
    copied = api.cookies["nudgeflow_staff"]
    assert (await api.get("/staff/templates")).status_code == 200
    token = csrf((await api.get("/staff/templates")).text)
    assert (await api.post("/staff/logout", data={"csrf_token": token})).status_code == 303
    api.cookies.clear()
    replayed = await api.get("/staff/templates", headers={"cookie": f"nudgeflow_staff={copied}"})
    assert replayed.status_code == 303 and replayed.headers["location"] == "/staff/login"


async def test_signing_out_with_an_old_copy_ends_no_newer_session(
    api: httpx.AsyncClient, store: Store
) -> None:
    email = await staff_user(store, "demo", Role.EDITOR)
    await sign_in(api, email)
    old = api.cookies["nudgeflow_staff"]
    token = csrf((await api.get("/staff/templates")).text)
    await api.post("/staff/logout", data={"csrf_token": token})
    await sign_in(api, email)  # signed in again: a new generation
    stale = {"cookie": f"nudgeflow_staff={old}"}
    api.cookies.clear()
    await api.post("/staff/logout", data={"csrf_token": token}, headers=stale)
    [user] = [u for u in await store.list_staff("demo") if u.email == email]
    assert user.session_generation == 1


async def test_staff_pages_forbid_framing_inline_scripts_and_sniffing(api: httpx.AsyncClient) -> None:
    for path in ("/staff/login", "/staff/templates"):
        headers = (await api.get(path)).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in (await api.get("/healthz")).headers


async def test_the_session_cookie_is_secure_in_production(store: Store, dev_env: WorkflowEnvironment) -> None:
    settings = Settings(
        database_url="sqlite://",
        env="production",
        secret_key=SECRET,
        reply_secret=SECRET,
        payload_keys="k1:" + "eHh4" * 10 + "eHg=",  # 32 bytes of "x", base64
    )
    await store.ensure_tenant("demo", "Demo clinic", SECRET)  # production refuses the demo's known key
    app = create_app(settings, store=store, temporal=dev_env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://staff") as client:
            answer = await sign_in(client, await staff_user(store, "demo", Role.EDITOR))
    assert answer.status_code == 303
    assert "secure" in answer.headers["set-cookie"].lower()
