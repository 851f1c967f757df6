"""Contacts over HTTP: found by phone, edited with the API's validation, a dead address explained and
cleared; another tenant's contact is neither shown nor changed."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from domain.consent import ConsentCategory, ConsentChange, ConsentSource
from domain.contacts import Channel
from store import Store
from store.consent import Ledger
from store.staff import Role
from tests.staff import server
from tests.staff.console_data import a_clinic, add_delivery
from tests.staff.server import console_client, csrf

# SQL that differs by backend: each test runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores


@pytest_asyncio.fixture
async def browser(store: Store, dev_env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    async with console_client(store, dev_env.client) as client:
        yield client


async def sign_in(browser: httpx.AsyncClient, store: Store, tenant: str = "demo") -> None:
    await server.sign_in(browser, store, Role.EDITOR, tenant)


def form_of(html: str) -> dict[str, str]:
    form = html.split('id="contact-form"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))


async def test_contacts_are_found_by_phone_and_name(browser: httpx.AsyncClient, store: Store) -> None:
    await a_clinic(store)
    await sign_in(browser, store)
    found = (await browser.get("/staff/contacts", params={"q": "+375 29 111-22-33"})).text
    assert re.findall(r'<tr data-id="([^"]+)">', found) == ["p-boris"]
    everyone = (await browser.get("/staff/contacts")).text
    assert sorted(re.findall(r'<tr data-id="([^"]+)">', everyone)) == ["p-anna", "p-boris"]


async def test_an_edit_is_validated_like_the_api(browser: httpx.AsyncClient, store: Store) -> None:
    await a_clinic(store)
    await sign_in(browser, store)
    form = form_of((await browser.get("/staff/contacts/p-anna")).text)
    bad = await browser.post("/staff/contacts/p-anna", data={**form, "phone": "8 916 123"})
    assert bad.status_code == 422 and "E.164" in bad.text
    bad_zone = await browser.post("/staff/contacts/p-anna", data={**form, "timezone": "Moscow"})
    assert bad_zone.status_code == 422 and "unknown IANA timezone" in bad_zone.text
    assert (await store.get_contact("demo", "p-anna")).phone == "+79161234567"  # type: ignore[union-attr]
    good = {**form, "phone": "+79160000001", "preferred_channels": "telegram, sms", "whatsapp": "1"}
    assert (await browser.post("/staff/contacts/p-anna", data=good)).status_code == 303
    saved = await store.get_contact("demo", "p-anna")
    assert saved is not None and saved.phone == "+79160000001" and saved.whatsapp
    assert [c.value for c in saved.preferred_channels] == ["telegram", "sms"] and saved.name == "Анна Петрова"


async def test_a_dead_address_shows_the_providers_reason_and_can_be_cleared(
    browser: httpx.AsyncClient, store: Store
) -> None:
    await a_clinic(store)  # Boris's Telegram message failed: "bot was blocked"
    await store.mark_dead_address("demo", "p-boris", "telegram:555")
    await sign_in(browser, store)
    html = (await browser.get("/staff/contacts/p-boris")).text
    row = re.search(r'<tr data-address="telegram:555">.*?</tr>', html, re.S)
    assert row is not None and "bot was blocked" in row.group(0)
    cleared = await browser.post(
        "/staff/contacts/p-boris/dead", data={"address": "telegram:555", "csrf_token": csrf(html)}
    )
    assert cleared.status_code == 303
    assert 'data-address="telegram:555"' not in (await browser.get("/staff/contacts/p-boris")).text
    boris = await store.get_contact("demo", "p-boris")
    assert boris is not None and (await store.contact_for_sending("demo", boris)).dead_addresses == []


async def test_another_tenants_contact_is_not_shown_or_changed(
    browser: httpx.AsyncClient, store: Store
) -> None:
    await a_clinic(store, "demo")
    await store.mark_dead_address("demo", "p-boris", "telegram:555")
    await add_delivery(store, "demo", "p-boris")
    await store.ensure_tenant("other", "Other clinic", "other-key")
    await sign_in(browser, store, "other")
    token = csrf((await browser.get("/staff/contacts")).text)
    assert 'data-id="p-anna"' not in (await browser.get("/staff/contacts?q=Анна")).text
    assert (await browser.get("/staff/contacts/p-anna")).status_code == 404
    edit = await browser.post("/staff/contacts/p-anna", data={"name": "x", "csrf_token": token})
    assert edit.status_code == 404
    await browser.post("/staff/contacts/p-boris/dead", data={"address": "telegram:555", "csrf_token": token})
    boris = await store.get_contact("demo", "p-boris")
    assert boris is not None and (await store.contact_for_sending("demo", boris)).dead_addresses == [
        "telegram:555"
    ]
    assert (await store.get_contact("demo", "p-anna")).name == "Анна Петрова"  # type: ignore[union-attr]


async def test_editing_a_contact_needs_the_csrf_token(browser: httpx.AsyncClient, store: Store) -> None:
    await a_clinic(store)
    await sign_in(browser, store)
    form = form_of((await browser.get("/staff/contacts/p-anna")).text)
    form.pop("csrf_token")
    assert (await browser.post("/staff/contacts/p-anna", data={**form, "name": "X"})).status_code == 403


async def test_the_contact_page_shows_the_consent_ledger(browser: httpx.AsyncClient, store: Store) -> None:
    await a_clinic(store)
    change = ConsentChange(
        contact_id="p-anna", category=ConsentCategory.MARKETING, status="revoked", channel=Channel.SMS,
        source=ConsentSource.KEYWORD, evidence={"text": "СТОП"}, actor="+79161234567",
    )  # fmt: skip
    await Ledger(store.engine).append("demo", [change])
    await sign_in(browser, store)
    html = (await browser.get("/staff/contacts/p-anna")).text
    row = re.search(r'<tr data-consent="marketing">.*?</tr>', html, re.S)
    assert row is not None and "revoked" in row.group(0) and "СТОП" in row.group(0) and "sms" in row.group(0)
