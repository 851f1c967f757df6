"""Templates that try to run forever, and values that look like template code."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import Settings
from domain.settings import TenantSettings
from i18n import TemplateRenderer
from i18n.render import TemplateOverride, TemplateRenderError
from i18n.sandbox import RenderBudget
from store import Store
from store.staff import Role
from tests.factories import appointment, patient
from tests.staff.server import staff_user
from tests.staff.test_pages import csrf, sign_in
from tests.workflows.harness import running_clinic

MOSCOW = ZoneInfo("Europe/Moscow")
# Each call renders itself twice: 2**40 calls, and not one operator the old sandbox bounded.
EXPONENTIAL = "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}"
WORST = {
    "exponential macro": EXPONENTIAL,
    "silent macro": "{% macro f(n) %}{% if n %}{% set a = f(n-1) %}{% set b = f(n-1) %}{% endif %}"
    "{% endmacro %}{{ f(40) }}",
    "nested loops": "{% for a in range(9999) %}{% for b in range(9999) %}{% endfor %}{% endfor %}.",
    "doubling string": "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s }}",
    "huge filter width": "{{ 'x'|center(10**9) }}",
    "growing replace": "{% set ns = namespace(s='x') %}{% for i in range(60) %}"
    "{% set ns.s = ns.s|replace('x', 'xx') %}{% endfor %}.",
}


@pytest.mark.parametrize("body", WORST.values(), ids=WORST.keys())
def test_a_runaway_template_stops_itself_within_its_budget(body: str) -> None:
    renderer = TemplateRenderer(budget=RenderBudget(seconds=0.3, max_chars=10_000))
    started = time.monotonic()
    with pytest.raises(TemplateRenderError) as failed:
        renderer.render(
            "visit_reminder",
            locale="en",
            channel="sms",
            context={},
            timezone="UTC",
            overrides=[TemplateOverride("en", "sms", {"body": body}, version_id=None)],
        )
    assert time.monotonic() - started < 2.0
    assert "not allowed in a template" in str(failed.value)


@pytest_asyncio.fixture
async def editor(store: Store, dev_env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url="sqlite://"), store=store, temporal=dev_env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://staff") as client:
            await sign_in(client, await staff_user(store, "demo", Role.PUBLISHER))
            yield client


async def test_previewing_an_exponential_macro_is_refused_while_health_answers(
    editor: httpx.AsyncClient,
) -> None:
    url = "/staff/templates/visit_reminder/en/sms"
    token = csrf((await editor.get(url)).text)
    form = {
        "key": "visit_reminder",
        "locale": "en",
        "channel": "sms",
        "body": EXPONENTIAL,
        "csrf_token": token,
    }
    started = time.monotonic()
    preview = asyncio.create_task(editor.post("/staff/preview", data=form))
    latencies: list[float] = []
    while not preview.done():
        asked = time.perf_counter()
        assert (await editor.get("/healthz")).status_code == 200
        latencies.append(time.perf_counter() - asked)
        await asyncio.sleep(0.05)
    answer = await preview
    assert answer.status_code == 422 and "longer than 2 s" in answer.text
    assert time.monotonic() - started < 5
    # Before, the whole API froze for 30 s: one health check waited out the whole render. Now health
    # answers again and again while the draft runs, none waiting as long as the 2 s the draft may take
    # (idle, the slowest waits ~5 ms; a busy CI machine showed one of 0.94 s).
    assert len(latencies) > 5 and max(latencies) < 2.0, latencies
    saved = await editor.post(url, data={"body": EXPONENTIAL, "action": "publish", "csrf_token": token})
    assert saved.status_code == 422  # nor can it be published


async def test_a_published_template_over_budget_falls_back_to_the_file_default(
    time_env: WorkflowEnvironment, store: Store, task_queue: str
) -> None:
    async with running_clinic(time_env, store, task_queue) as clinic:
        await store.put_settings(clinic.tenant, TenantSettings(timezone="Europe/Moscow"))
        heavy = await store.save_template_draft(
            clinic.tenant, "appointment_confirmed", "ru", "sms", {"body": EXPONENTIAL}, "ed@clinic.example"
        )
        await store.publish_template(clinic.tenant, heavy.id, "pub@clinic.example")
        await clinic.wait_until_local(clock(12, 0))
        today = (await clinic.now()).astimezone(MOSCOW).date()
        starts_at = datetime.combine(today + timedelta(days=3), clock(14, 0), tzinfo=MOSCOW)

        await clinic.post("appointment.confirmed", appointment("b-1", starts_at))

        [confirmation] = await clinic.deliveries("b-1")
        assert confirmation.status == "sent" and "14:00" in str(confirmation.body)
        assert "longer than 2 s" in str(confirmation.reason)


async def test_a_patient_name_that_looks_like_template_code_is_sent_as_written(
    time_env: WorkflowEnvironment, store: Store, task_queue: str
) -> None:
    async with running_clinic(time_env, store, task_queue) as clinic:
        await store.put_settings(clinic.tenant, TenantSettings(timezone="Europe/Moscow"))
        await clinic.wait_until_local(clock(12, 0))
        today = (await clinic.now()).astimezone(MOSCOW).date()
        starts_at = datetime.combine(today + timedelta(days=3), clock(14, 0), tzinfo=MOSCOW)
        # By email: its text greets the patient by name.
        person = patient(name="Анна {{ 7*7 }} {% raw %}", phone=None, email="anna@example.com")

        await clinic.post("appointment.confirmed", appointment("b-2", starts_at, patient=person))

        [confirmation] = await clinic.deliveries("b-2")
        assert confirmation.status == "sent", confirmation.reason
        assert "Анна {{ 7*7 }} {% raw %}" in str(confirmation.body) and "14:00" in str(confirmation.body)
