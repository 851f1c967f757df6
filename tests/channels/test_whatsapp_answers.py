"""WhatsApp answers and template status per language, over real HTTP to the fake WhatsApp.

A reply button inside the 24-hour window and a template's quick-reply button outside it both
confirm the visit; a template whose language Meta rejected is never tried: the reminder goes in the
tenant's fallback language or by the next channel, the delivery log says why, and staff hear once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import Settings
from domain.contacts import Contact
from tests.channels.clinic import clinic_with_fakes
from tests.channels.conftest import Fakes
from tests.channels.test_answers import key, reminded, staff_in_telegram
from tests.channels.test_inbound import Desk
from tests.factories import patient
from tests.fakes import ADDRESSES, whatsapp

SECRET = "meta-app-secret"
_n = ADDRESSES  # shared by every module: the fakes live for the whole session


@asynccontextmanager
async def open_desk(
    env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> AsyncIterator[Desk]:
    """A clinic on the time-skipping server and its API, which knows the business account."""
    async with clinic_with_fakes(env, fakes, task_queue, tmp_path) as clinic:
        app = create_app(Settings(task_queue=task_queue), store=clinic.store, temporal=env.client)
        app.state.channels = fakes.config(
            public_base_url="http://nudgeflow",
            whatsapp_business_account_id=fakes.whatsapp.business_account_id,
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://nudgeflow") as api:
                yield Desk(clinic, api)


@pytest_asyncio.fixture
async def desk(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> AsyncIterator[Desk]:
    async with open_desk(time_env, fakes, task_queue, tmp_path) as opened:
        yield opened


def phone() -> str:
    return f"+4477008{next(_n) + 52000:05d}"


async def on_whatsapp(desk: Desk, fakes: Fakes, number: str, *, window: bool, **extra: Any) -> dict[str, Any]:
    """A patient on WhatsApp; with `window`, one who wrote to the clinic a moment ago."""
    person = patient(id=f"wa-{number[-5:]}", phone=number, whatsapp=True, **extra)
    await desk.clinic.store.upsert_contact(desk.clinic.tenant, Contact.model_validate(person))
    if window:
        fakes.whatsapp.window.add(number)
        await desk.clinic.store.open_whatsapp_window(number, datetime.now(UTC) + timedelta(days=5))
    return person


def sent_to(fakes: Fakes, number: str, template: str | None = None) -> list[dict[str, Any]]:
    """What the fake WhatsApp accepted for the number (a template's, when named)."""
    return [
        r["payload"]
        for r in fakes.whatsapp.requests
        if r["to"] == number
        and r["answer"] == "ok"
        and (template is None or (r["payload"].get("template") or {}).get("name") == template)
    ]


async def post(desk: Desk, payload: dict[str, Any], secret: str = SECRET) -> httpx.Response:
    body, headers = whatsapp.signed(payload, secret)
    return await desk.api.post("/v1/inbound/whatsapp", content=body, headers=headers)


def staff_told(fakes: Fakes, chat: str) -> list[str]:
    return [str(r["payload"].get("text")) for r in fakes.telegram.sent() if r.get("chat_id") == chat]


async def test_a_reply_button_inside_the_window_confirms_the_visit_from_that_number_only(
    desk: Desk, fakes: Fakes
) -> None:
    number = phone()
    person = await on_whatsapp(desk, fakes, number, window=True)
    await reminded(desk, "wa-1", person)
    [reminder] = [p for p in sent_to(fakes, number) if p["type"] == "interactive"]
    assert reminder["interactive"]["type"] == "button"
    buttons = [b["reply"] for b in reminder["interactive"]["action"]["buttons"]]
    assert len(buttons) == 2 and all(len(b["title"]) <= 20 for b in buttons)
    now = int(datetime.now(UTC).timestamp())

    # The same button pressed from another number (a forwarded message) answers nothing.
    stranger = phone()
    assert (
        await post(desk, whatsapp.button_press(stranger, now, buttons[0]["id"], "x", "wamid.S1"))
    ).status_code == 200
    assert (await desk.clinic.settle("wa-1")).view.attendance is None  # type: ignore[union-attr]

    pressed = whatsapp.button_press(number, now, buttons[0]["id"], buttons[0]["title"], "wamid.B1")
    assert (await post(desk, pressed)).status_code == 200

    state = await desk.clinic.settle("wa-1")
    assert state.view.attendance == "confirmed"  # type: ignore[union-attr]


async def test_a_quick_reply_on_the_template_outside_the_window_confirms_the_visit(
    desk: Desk, fakes: Fakes
) -> None:
    number = phone()
    person = await on_whatsapp(desk, fakes, number, window=False)
    await reminded(desk, "wa-2", person)
    assert not [p for p in sent_to(fakes, number) if p["type"] in ("text", "interactive")]
    [reminder] = sent_to(fakes, number, "visit_reminder")
    quick = [c for c in reminder["template"]["components"] if c.get("sub_type") == "quick_reply"]
    assert [c["index"] for c in quick] == ["0", "1"]
    payload = quick[0]["parameters"][0]["payload"]

    pressed = whatsapp.quick_reply(number, int(datetime.now(UTC).timestamp()), payload, "Приду", "wamid.Q1")
    assert (await post(desk, pressed)).status_code == 200

    assert (await desk.clinic.settle("wa-2")).view.attendance == "confirmed"  # type: ignore[union-attr]


async def test_a_rejected_language_goes_in_the_fallback_language_with_the_reason_and_staff_hear_once(
    desk: Desk, fakes: Fakes
) -> None:
    staff_chat = await staff_in_telegram(desk)
    fakes.whatsapp.templates.update(
        {("visit_reminder", "tr"): "REJECTED", ("visit_reminder", "en"): "APPROVED"}
    )
    try:
        synced = await desk.api.post("/v1/whatsapp/templates/sync", headers=key(desk))
        assert synced.status_code == 200, synced.text
        listed = (await desk.api.get("/v1/whatsapp/templates", headers=key(desk))).json()["templates"]
        assert {(t["template"], t["language"], t["status"], t["source"]) for t in listed} >= {
            ("visit_reminder", "tr", "rejected", "sync"),
            ("visit_reminder", "en", "approved", "sync"),
        }
        number = phone()
        person = await on_whatsapp(desk, fakes, number, window=False, locale="tr")
        starts_at = await reminded(desk, "wa-3", person)
        await desk.clinic.advance_to(starts_at - timedelta(hours=1), "wa-3")
    finally:
        for language in ("tr", "en"):
            fakes.whatsapp.templates.pop(("visit_reminder", language), None)

    reminders = sent_to(fakes, number, "visit_reminder")
    assert [r["template"]["language"]["code"] for r in reminders] == ["en", "en"]  # both, never tr
    assert not [r for r in fakes.whatsapp.requests if r["to"] == number and r["answer"] != "ok"]
    rows = [r for r in await desk.clinic.deliveries("wa-3") if r.template == "visit_reminder"]
    assert [(r.status, r.channel) for r in rows] == [("sent", "whatsapp"), ("sent", "whatsapp")]
    assert all("visit_reminder in tr is rejected: sent in en instead" in str(r.reason) for r in rows)
    logged = (await desk.api.get("/v1/deliveries?subject=wa-3", headers=key(desk))).json()["deliveries"]
    assert sum("in tr is rejected" in str(d.get("reason")) for d in logged) == 2
    told = [text for text in staff_told(fakes, staff_chat) if "visit_reminder" in text]
    assert len(told) == 1 and "на языке tr: отклонён" in told[0]


async def test_with_no_approved_language_the_reminder_goes_by_the_next_channel_with_the_reason(
    desk: Desk, fakes: Fakes
) -> None:
    staff_chat = await staff_in_telegram(desk)
    for language, status in (("tr", "paused"), ("en", "rejected")):
        put = await desk.api.put(
            f"/v1/whatsapp/templates/visit_reminder/{language}",
            json={"status": status, "reason": "quality", "by": "admin"},
            headers=key(desk),
        )
        assert put.status_code == 200 and put.json()["source"] == "staff", put.text
    number = phone()
    person = await on_whatsapp(desk, fakes, number, window=False, locale="tr")

    await reminded(desk, "wa-4", person)

    assert sent_to(fakes, number, "visit_reminder") == []
    assert [r for r in fakes.twilio.requests if r["to"] == number and "1" in r["payload"]["Body"]]
    [row] = [r for r in await desk.clinic.deliveries("wa-4") if r.template == "visit_reminder"]
    assert (row.status, row.channel) == ("sent", "sms")
    assert "whatsapp: the WhatsApp template visit_reminder in tr is paused and none in en is approved" in str(
        row.reason
    )
    assert len([t for t in staff_told(fakes, staff_chat) if "visit_reminder" in t]) == 1


async def test_malformed_and_forged_whatsapp_bodies_are_refused_with_4xx(desk: Desk, fakes: Fakes) -> None:
    number = phone()
    no_sender = whatsapp.button_press(number, 0, "b1_1_1_1", "x", "wamid.M1")
    del no_sender["entry"][0]["changes"][0]["value"]["messages"][0]["from"]
    for payload in (no_sender, {"entry": 5}, {"entry": [{"changes": [{"value": {"messages": [7]}}]}]}):
        refused = await post(desk, payload)
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    for raw in (b"{not json", b"[]", "\ud800".encode("utf-8", "surrogatepass")):
        digest = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        signed = {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}
        answered = await desk.api.post("/v1/inbound/whatsapp", content=raw, headers=signed)
        assert answered.status_code == 400, (raw, answered.text)
    body, headers = whatsapp.signed(whatsapp.button_press(number, 0, "x", "x", "wamid.M2"), "not-the-secret")
    assert (await desk.api.post("/v1/inbound/whatsapp", content=body, headers=headers)).status_code == 401
    unsigned = {"Content-Type": "application/json"}
    assert (await desk.api.post("/v1/inbound/whatsapp", content=body, headers=unsigned)).status_code == 401
    bad = await desk.api.put(
        "/v1/whatsapp/templates/visit_reminder/tr", json={"status": "maybe"}, headers=key(desk)
    )
    assert bad.status_code == 422 and "status" in bad.text
    assert (
        await desk.api.put(
            "/v1/whatsapp/templates/visit_reminder/xx-YY", json={"status": "approved"}, headers=key(desk)
        )
    ).status_code == 422


async def test_a_quick_reply_after_a_reschedule_is_not_applied_and_the_patient_hears_the_new_time(
    desk: Desk, fakes: Fakes
) -> None:
    number = phone()
    person = await on_whatsapp(desk, fakes, number, window=False)
    starts_at = await reminded(desk, "wa-5", person)
    [reminder] = sent_to(fakes, number, "visit_reminder")
    quick = [c for c in reminder["template"]["components"] if c.get("sub_type") == "quick_reply"]
    moved_to = starts_at + timedelta(days=2)
    await desk.clinic.post(
        "appointment.rescheduled",
        {"appointment_id": "wa-5", "starts_at": moved_to.isoformat(), "duration_minutes": 30},
    )
    fakes.whatsapp.window.add(number)  # Meta opens the window when the patient writes or taps
    payload = quick[0]["parameters"][0]["payload"]
    pressed = whatsapp.quick_reply(number, int(datetime.now(UTC).timestamp()), payload, "Приду", "wamid.R1")
    for _ in range(2):  # Meta redelivers a webhook it is unsure of: still one answer
        assert (await post(desk, pressed)).status_code == 200

    assert (await desk.clinic.settle("wa-5")).view.attendance is None  # type: ignore[union-attr]
    told = [p["text"]["body"] for p in sent_to(fakes, number) if p["type"] == "text"]
    assert len(told) == 1 and "перенес" in told[0]


async def test_an_api_process_with_a_business_account_syncs_the_statuses_by_itself(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> None:
    fakes.whatsapp.templates[("hourly_sync_check", "tr")] = "PAUSED"
    try:
        async with open_desk(time_env, fakes, task_queue, tmp_path) as desk:
            for _ in range(100):
                listed = (await desk.api.get("/v1/whatsapp/templates", headers=key(desk))).json()["templates"]
                if listed:
                    break
                await asyncio.sleep(0.05)
    finally:
        fakes.whatsapp.templates.pop(("hourly_sync_check", "tr"))
    assert [(t["template"], t["language"], t["status"], t["source"]) for t in listed] == [
        ("hourly_sync_check", "tr", "paused", "sync")
    ]


async def test_stop_please_on_whatsapp_revokes_consent_there_with_one_confirmation(
    desk: Desk, fakes: Fakes
) -> None:
    number = phone()
    person = await on_whatsapp(desk, fakes, number, window=True)
    await reminded(desk, "wa-6", person)
    before = len(sent_to(fakes, number))
    stop = whatsapp.inbound_message(number, int(datetime.now(UTC).timestamp()), "Stop please")
    stop["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = "wamid.STOP6"
    for _ in range(2):  # redelivered: still one confirmation
        assert (await post(desk, stop)).status_code == 200

    confirmations = [p["text"]["body"] for p in sent_to(fakes, number)[before:] if p["type"] == "text"]
    assert len(confirmations) == 1 and "СТАРТ" in confirmations[0]
    consents = (await desk.api.get(f"/v1/contacts/{person['id']}/consents", headers=key(desk))).json()[
        "consents"
    ]
    assert {(c["channel"], c["status"], c["source"]) for c in consents} == {
        ("whatsapp", "revoked", "keyword")
    }
