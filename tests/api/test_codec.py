"""A history fetched from Temporal shows no patient in clear; the codec endpoint shows them to an admin."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import time, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest_asyncio
from google.protobuf import json_format
from google.protobuf.message import Message
from playwright.async_api import Browser, Page, async_playwright, expect
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import Settings
from store import Store
from store.staff import Role
from tests.factories import appointment, patient
from tests.staff.server import CHROMIUM, CHROMIUM_ARGS, PASSWORD, require_chromium, serving, staff_user
from tests.staff.test_pages import sign_in
from tests.workflows.harness import running_clinic
from workflows.codec import ENCODING, EncryptionCodec

NAME, PHONE = "Zinovia Quackenbush-Ωmega", "+79995550123"
UI = "http://localhost:8233"


@pytest_asyncio.fixture
async def history(time_env: WorkflowEnvironment, store: Store, task_queue: str) -> WorkflowHistory:
    """The history of a confirmed appointment, its confirmation sent, of a patient no one else has."""
    async with running_clinic(time_env, store, task_queue) as clinic:
        await clinic.wait_until_local(time(12, 0))
        starts_at = await clinic.now() + timedelta(days=3)
        person = patient(id="p-privacy", name=NAME, phone=PHONE)
        data = appointment("a-privacy", starts_at.astimezone(ZoneInfo("Europe/Moscow")), patient=person)
        await clinic.post("appointment.confirmed", data)
        assert await clinic.steps("a-privacy", "sent") == ["confirmed"]
        handle = time_env.client.get_workflow_handle(clinic.workflow_id("a-privacy"))
        return await handle.fetch_history()


@pytest_asyncio.fixture
async def api(store: Store, time_env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url="sqlite://"), store=store, temporal=time_env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://staff") as client:
            yield client


def clear_forms(text: str) -> list[bytes]:
    """Every way a string may sit in a history's bytes: UTF-8, JSON-escaped, base64 of the UTF-8."""
    escaped = json.dumps(text)[1:-1].encode()
    return [text.encode(), escaped, base64.b64encode(text.encode())]


def payloads_of(history: WorkflowHistory) -> list[Payload]:
    """The encrypted payloads of a history: inputs, results, signals, local activities' results.

    The SDK's own marker metadata (a local activity's seq and type, a patch id) and search attributes
    are not the codec's: they stay readable, and hold no personal data (the bytes, above)."""
    found: list[Payload] = []

    def walk(message: Message) -> None:
        if isinstance(message, Payload):
            found.append(message)
            return
        for field, value in message.ListFields():
            if field.message_type is None:
                continue
            if field.message_type.GetOptions().map_entry:
                items = list(value.values())
            else:
                items = list(value) if field.is_repeated else [value]
            for item in items:
                if isinstance(item, Message):
                    walk(item)

    for event in history.events:
        walk(event)
    return [payload for payload in found if payload.metadata["encoding"] == ENCODING]


async def test_a_fetched_history_holds_no_patient_name_or_phone_in_clear(history: WorkflowHistory) -> None:
    raw = b"".join(event.SerializeToString() for event in history.events)
    as_json = history.to_json().encode()
    for secret in (NAME, PHONE, PHONE.lstrip("+"), "Quackenbush"):
        for form in clear_forms(secret):
            assert form not in raw and form not in as_json, f"{secret!r} in clear in the history"
    assert len(payloads_of(history)) >= 3  # the lifecycle's input, its event, its activities' results


async def test_the_codec_endpoint_shows_an_admin_the_patient_and_refuses_without_a_session(
    history: WorkflowHistory, api: httpx.AsyncClient, store: Store
) -> None:
    # The Temporal UI sends a history's payloads as protobuf JSON (bytes in base64).
    request = json_format.MessageToDict(Payloads(payloads=payloads_of(history)))
    headers = {"origin": UI, "x-namespace": "default"}
    refused = await api.post("/codec/decode", json=request, headers=headers)
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["access-control-allow-origin"] == UI  # the UI can read why

    assert (await sign_in(api, await staff_user(store, "demo", Role.ADMIN))).status_code == 303
    answer = await api.post("/codec/decode", json=request, headers=headers)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-credentials"] == "true"
    decoded = json_format.ParseDict(answer.json(), Payloads()).payloads
    assert len(decoded) == len(request["payloads"])
    assert {payload.metadata["encoding"] for payload in decoded} == {b"json/plain"}
    clear = b"".join(payload.data for payload in decoded).decode()
    assert NAME in clear and PHONE in clear


async def test_encode_then_decode_round_trips_for_an_admin(api: httpx.AsyncClient, store: Store) -> None:
    plain = Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(NAME).encode())])
    await sign_in(api, await staff_user(store, "demo", Role.ADMIN))
    encoded = await api.post("/codec/encode", json=json_format.MessageToDict(plain))
    assert encoded.status_code == 200 and NAME not in encoded.text
    decoded = await api.post("/codec/decode", json=encoded.json())
    assert json_format.ParseDict(decoded.json(), Payloads()) == plain


async def test_a_payload_under_an_unknown_key_or_a_body_not_of_payloads_is_a_4xx_problem(
    api: httpx.AsyncClient, store: Store
) -> None:
    sealed = EncryptionCodec([("retired-2025", bytes(32))]).encrypt(Payload(data=b'"x"'))
    await sign_in(api, await staff_user(store, "demo", Role.ADMIN))
    unknown = await api.post("/codec/decode", json=json_format.MessageToDict(Payloads(payloads=[sealed])))
    assert unknown.status_code == 422 and "retired-2025" in unknown.json()["detail"]
    for body in (b"\xff\xfe", b"[1, 2]", b"[" * 100_000):
        answer = await api.post("/codec/decode", content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 400, body[:8]


async def test_an_editor_may_not_decode(api: httpx.AsyncClient, store: Store) -> None:
    await sign_in(api, await staff_user(store, "demo", Role.EDITOR))
    assert (await api.post("/codec/decode", json={"payloads": []})).status_code == 403


async def test_only_the_configured_ui_origin_may_call_from_a_browser(api: httpx.AsyncClient) -> None:
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "content-type"}
    allowed = await api.options("/codec/decode", headers={"origin": UI, **preflight})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == UI
    stranger = await api.options("/codec/decode", headers={"origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in stranger.headers
    elsewhere = await api.get("/healthz", headers={"origin": UI})
    assert "access-control-allow-origin" not in elsewhere.headers  # CORS for /codec only


async def sign_in_page(browser: Browser, base: str, email: str) -> Page:
    page = await browser.new_page(base_url=base)
    await page.goto("/staff/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{base}/staff/templates")
    return page


class QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def temporal_ui_stand_in(folder: Path) -> Iterator[str]:
    """A page on its own loopback origin, where the Temporal UI would be (Chromium lets only a page
    served from loopback call a loopback address)."""
    (folder / "index.html").write_text("<!doctype html><title>Temporal</title>")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietFiles, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_browser_on_the_temporal_ui_origin_reads_the_patient_once_staff_signed_in(
    history: WorkflowHistory, store: Store, time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """What the Temporal UI does with "include cross-origin credentials": fetch /codec/decode from its
    own origin with the staff cookie. The UI's page is stood in for; the browser, CORS and cookie are real."""
    require_chromium()
    request = json.dumps(json_format.MessageToDict(Payloads(payloads=payloads_of(history))))
    fetch = """async ([url, body]) => {
        const answer = await fetch(url, {method: "POST", credentials: "include", body,
            headers: {"Content-Type": "application/json", "X-Namespace": "default"}});
        return [answer.status, await answer.text()];
    }"""
    with temporal_ui_stand_in(tmp_path) as ui:
        settings = Settings(database_url="sqlite://", codec_cors_origins=ui)
        async with serving(store, time_env.client, settings) as base, async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = await sign_in_page(browser, base, await staff_user(store, "demo", Role.ADMIN))
                stranger = await browser.new_page()
                for tab in (page, stranger):
                    await tab.goto(f"{ui}/index.html")
                status, text = await page.evaluate(fetch, [f"{base}/codec/decode", request])
                assert status == 200, text
                clear = b"".join(p.data for p in json_format.Parse(text, Payloads()).payloads).decode()
                assert NAME in clear and PHONE in clear
                status, text = await stranger.evaluate(fetch, [f"{base}/codec/decode", request])
                assert status == 401 and NAME not in text
            finally:
                await browser.close()
