"""The API (with the staff UI) served by uvicorn inside the test's event loop, on a free port."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn
from temporalio.client import Client

from api.app import create_app
from config import Settings
from store import Store
from store.staff import Role
from tests.conftest import require
from tests.ports import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "staff-password-1"


@asynccontextmanager
async def serving(store: Store, temporal: Client, settings: Settings | None = None) -> AsyncIterator[str]:
    """The app on http://127.0.0.1:<port>, stopped on exit."""
    port = free_port()
    app = create_app(settings or Settings(database_url="sqlite://"), store=store, temporal=temporal)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def staff_user(store: Store, tenant: str, role: Role) -> str:
    email = f"{role.value}@{tenant}.example"
    await store.create_staff(email, tenant, role, PASSWORD)
    return email


def require_chromium() -> None:
    require(CHROMIUM.exists(), f"{CHROMIUM} missing: apt-get install -y chromium (.ci/run does it in CI)")


@asynccontextmanager
async def console_client(store: Store, temporal: Client) -> AsyncIterator[httpx.AsyncClient]:
    """The app over ASGI, as a signed-out browser that keeps its cookies."""
    app = create_app(Settings(database_url="sqlite://"), store=store, temporal=temporal)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://staff") as client:
            yield client


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def sign_in(browser: httpx.AsyncClient, store: Store, role: Role, tenant: str = "demo") -> str:
    """A new staff user of `role` signed in through the login form; their email."""
    email = await staff_user(store, tenant, role)
    data = {
        "email": email,
        "password": PASSWORD,
        "csrf_token": csrf((await browser.get("/staff/login")).text),
    }
    assert (await browser.post("/staff/login", data=data)).status_code == 303
    return email
