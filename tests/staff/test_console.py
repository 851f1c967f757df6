"""The staff console over HTTP: the delivery log's filters, one message in full, a contact, isolation."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import Settings
from domain.settings import TenantSettings
from store import Store
from store.staff import Role
from tests.staff.console_data import a_clinic, add_delivery
from tests.staff.server import PASSWORD, staff_user

# SQL that differs by backend: each test runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores


@pytest_asyncio.fixture
async def browser(store: Store, dev_env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url="sqlite://"), store=store, temporal=dev_env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://staff") as client:
            yield client


async def sign_in(browser: httpx.AsyncClient, store: Store, tenant: str = "demo") -> None:
    email = await staff_user(store, tenant, Role.EDITOR)
    login = (await browser.get("/staff/login")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', login)
    assert token is not None
    answer = await browser.post(
        "/staff/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 303


def shown(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-id="(\d+)">', html)]


async def test_the_log_finds_a_patient_by_phone_name_or_id(browser: httpx.AsyncClient, store: Store) -> None:
    ids = await a_clinic(store)
    await sign_in(browser, store)
    everything = (await browser.get("/staff/deliveries")).text
    assert shown(everything) == [ids["invoice"], ids["boris"], ids["anna"]]  # newest first
    for patient in ("+7 916 123-45-67", "анна", "Петрова", "p-anna"):
        found = (await browser.get("/staff/deliveries", params={"patient": patient})).text
        assert shown(found) == [ids["invoice"], ids["anna"]], patient
    assert shown((await browser.get("/staff/deliveries?patient=nobody")).text) == []


async def test_the_log_filters_by_lifecycle_channel_provider_status_and_date(
    browser: httpx.AsyncClient, store: Store
) -> None:
    ids = await a_clinic(store)
    await store.put_settings("demo", TenantSettings(timezone="Europe/Moscow"))
    await sign_in(browser, store)

    async def ids_for(**params: str) -> list[int]:
        return shown((await browser.get("/staff/deliveries", params=params)).text)

    assert await ids_for(kind="lesson") == [ids["boris"]]
    assert await ids_for(kind="invoice") == [ids["invoice"]]
    assert await ids_for(channel="telegram") == [ids["boris"]]
    assert await ids_for(provider="smsaero") == [ids["invoice"], ids["anna"]]
    assert await ids_for(status="failed") == [ids["boris"]]
    assert await ids_for(since="2030-03-15", until="2030-03-15") == [ids["boris"]]
    assert await ids_for(since="2030-03-16") == [ids["invoice"]]
    assert await ids_for(until="2030-03-14") == [ids["anna"]]
    assert await ids_for(kind="appointment", status="sent", channel="sms") == [ids["anna"]]


async def test_the_log_pages_back_through_older_messages(browser: httpx.AsyncClient, store: Store) -> None:
    for n in range(55):
        await add_delivery(store, "demo", "p-1", subject=f"appointment:a-{n}")
    await sign_in(browser, store)
    first = (await browser.get("/staff/deliveries")).text
    older = re.search(r'href="([^"]+)" id="older"', first)
    assert len(shown(first)) == 50 and older is not None
    second = (await browser.get(older.group(1).replace("&amp;", "&"))).text
    assert len(shown(second)) == 5 and not set(shown(first)) & set(shown(second))


async def test_a_message_shows_its_body_attempts_callbacks_cost_and_links(
    browser: httpx.AsyncClient, store: Store
) -> None:
    ids = await a_clinic(store)
    await store.put_settings("demo", TenantSettings(timezone="Europe/Moscow"))
    await sign_in(browser, store)
    html = (await browser.get(f"/staff/deliveries/{ids['anna']}")).text
    assert "Ждём вас завтра в 12:00" in html
    assert 'id="cost">0.050' in html
    assert "delivered by the operator" in html and "2030-03-14 12:00:05" in html  # the clinic's time
    assert 'href="/staff/timeline/appointment/a-1"' in html and 'href="/staff/contacts/p-anna"' in html
    assert re.search(r'id="template-version">\s*file default', html)
    failed = (await browser.get(f"/staff/deliveries/{ids['boris']}")).text
    assert "bot was blocked" in failed


async def test_a_template_version_published_before_the_send_is_named(
    browser: httpx.AsyncClient, store: Store
) -> None:
    draft = await store.save_template_draft("demo", "visit_reminder", "ru", "sms", {"body": "x"}, "ed@demo")
    version = await store.publish_template("demo", draft.id, "ed@demo")
    assert version.published_at is not None
    delivery = await add_delivery(store, "demo", "p-1", at=version.published_at.replace(year=2031))
    await sign_in(browser, store)
    html = (await browser.get(f"/staff/deliveries/{delivery}")).text
    assert f'href="/staff/versions/{version.id}/diff">v1</a> (ru, sms)' in html


async def test_the_contact_page_shows_channels_and_recent_messages(
    browser: httpx.AsyncClient, store: Store
) -> None:
    ids = await a_clinic(store)
    await sign_in(browser, store)
    html = (await browser.get("/staff/contacts/p-anna")).text
    assert "Анна Петрова" in html and "+79161234567" in html and "Europe/Moscow" in html
    assert f'href="/staff/deliveries/{ids["anna"]}"' in html
    assert (await browser.get("/staff/contacts/nobody")).status_code == 404


async def test_another_tenants_staff_never_sees_this_tenants_messages(
    browser: httpx.AsyncClient, store: Store
) -> None:
    ids = await a_clinic(store, "demo")
    await store.ensure_tenant("other", "Other clinic", "other-key")
    theirs = await add_delivery(store, "other", "p-anna", body="other clinic's text")
    await sign_in(browser, store, "other")
    html = (await browser.get("/staff/deliveries")).text
    assert shown(html) == [theirs] and "Ждём вас" not in html
    assert shown((await browser.get("/staff/deliveries?patient=%2B79161234567")).text) == []
    for delivery in ids.values():
        assert (await browser.get(f"/staff/deliveries/{delivery}")).status_code == 404
    assert (await browser.get("/staff/contacts/p-anna")).status_code == 404


async def test_every_console_page_speaks_russian(browser: httpx.AsyncClient, store: Store) -> None:
    ids = await a_clinic(store)
    await sign_in(browser, store)
    for path, heading in (
        ("/staff/dashboard", "Сводка"),
        ("/staff/deliveries", "Журнал отправок"),
        (f"/staff/deliveries/{ids['anna']}", "Текст, как он ушёл"),
        ("/staff/timeline", "Хронология"),
        ("/staff/queues", "Рабочие очереди"),
        ("/staff/contacts", "Контакты"),
        ("/staff/contacts/p-anna", "Недоступные адреса"),
        ("/staff/settings", "Тихие часы"),
    ):
        answer = await browser.get(path, params={"lang": "ru"})
        assert answer.status_code == 200 and heading in answer.text, path


async def test_the_timeline_index_lists_this_weeks_lifecycles(
    browser: httpx.AsyncClient, store: Store
) -> None:
    now = datetime.now(UTC)
    await add_delivery(store, "demo", "p-1", subject="appointment:a-1", at=now - timedelta(days=1))
    await add_delivery(store, "demo", "p-1", subject="lesson:l-2", at=now - timedelta(hours=1))
    await add_delivery(store, "demo", "p-1", subject="invoice:i-3", at=now - timedelta(days=9))
    await store.ensure_tenant("other", "Other clinic", "other-key")
    await add_delivery(store, "other", "p-1", subject="chat:c-4", at=now)
    await sign_in(browser, store)
    html = (await browser.get("/staff/timeline")).text.split('id="recent"', 1)[1]
    assert re.findall(r'href="/staff/timeline/(\w+/[\w-]+)"', html) == ["lesson/l-2", "appointment/a-1"]
