"""Every button a template shows works: each is pressed in Telegram and what it did is checked.

The walk is driven by the template files: a template that grows a button nobody handles, or a
template with buttons no scenario here sends, fails the first test.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from channels import replies
from domain.answers import QUESTIONS
from domain.contacts import Contact
from domain.settings import TenantSettings
from tests.channels.clinic import local_day
from tests.channels.conftest import Fakes
from tests.channels.test_answers import open_desk, text
from tests.channels.test_inbound import Desk
from tests.factories import appointment, balance, invoice, lesson, patient, payer
from tests.fakes import ADDRESSES, telegram
from workflows.inputs import AppointmentState

ROOT = Path(__file__).parents[2] / "message_templates"
SECRET = {"X-Telegram-Bot-Api-Secret-Token": "tg-hook-secret"}
THANKS = "Спасибо, отмечено."  # the patients here read Russian
PAID = "Спасибо! Мы проверим оплату."
# The templates this walk sends and presses; the first test holds it to the files.
WALKED = {
    "visit_reminder",
    "feedback_request",
    "feedback_followup",
    "lesson_feedback_request",
    "lesson_feedback_followup",
    "payment_nudge",
    "balance_nudge",
}
# Templates with buttons that another part presses in its own tests: name them here, with where.
WALKED_ELSEWHERE = {"slot_offer": "the waitlist's offer: `slot.accepted` (workflows/slot.py and its tests)"}
_n = ADDRESSES  # shared by every module: the fakes live for the whole session


def buttons_in_files() -> dict[tuple[str, str], list[str]]:
    """(template, locale) -> the buttons of its default table, for every file that shows any."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(ROOT.glob("*/*.toml")):
        for table in tomllib.loads(path.read_text(encoding="utf-8")).values():
            if isinstance(table, dict) and table.get("buttons"):
                found[(path.parent.name, path.stem)] = list(table["buttons"])
    return found


def test_every_button_in_every_template_file_has_a_meaning_and_is_walked() -> None:
    files = buttons_in_files()
    shown = {template for template, _ in files}
    assert WALKED <= shown and shown - WALKED <= set(WALKED_ELSEWHERE), shown
    for (template, locale), labels in files.items():
        if template in WALKED_ELSEWHERE:
            continue
        meanings = [replies.answer(template, i) for i in range(len(labels))]
        assert None not in meanings, f"{template}/{locale}: a button that does nothing: {labels}"
        assert replies.answer(template, len(labels)) is None, (
            f"{template}/{locale}: a meaning without a button"
        )


@pytest_asyncio.fixture
async def desk(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> AsyncIterator[Desk]:
    async with open_desk(time_env, fakes, task_queue, tmp_path) as opened:
        yield opened


def chat() -> str:
    return str(781000 + next(_n))


async def staff_chat(desk: Desk) -> str:
    staff = chat()
    admin = Contact(id="admin-b", name="Админ", locale="ru", timezone="Europe/Moscow", telegram_chat_id=staff)
    await desk.clinic.store.put_settings(
        desk.clinic.tenant, TenantSettings(timezone="Europe/Moscow", staff_recipients=[admin])
    )
    return staff


async def keyboards(desk: Desk, fakes: Fakes, to: str) -> dict[str, list[str]]:
    """template -> the callback data of its buttons, for what the fake Telegram got for `to`."""
    found: dict[str, list[str]] = {}
    for request in fakes.telegram.sent():
        markup = request["payload"].get("reply_markup") if request.get("chat_id") == to else None
        if not markup:
            continue
        data = [button["callback_data"] for row in markup["inline_keyboard"] for button in row]
        pressed = replies.pressed(data[0], "test-reply-secret", datetime.now(UTC))
        assert pressed is not None
        delivery = await desk.clinic.store.get_delivery(pressed[0])
        assert delivery is not None
        found[delivery.template] = data
    return found


async def until(desk: Desk, ref: str, check: Callable[[AppointmentState], bool]) -> None:
    """Settled with the check true: the press's event goes through the outbox, maybe a moment later."""
    deadline = asyncio.get_running_loop().time() + 10
    while not check(state := await desk.clinic.settle(ref)):
        assert asyncio.get_running_loop().time() < deadline, state
        await asyncio.sleep(0.05)


def rated(stars: int, lesson: bool = False) -> Callable[[AppointmentState], bool]:
    if lesson:
        return lambda state: state.summary["rating"] == stars
    return lambda state: state.view is not None and state.view.rating == stars


async def press(desk: Desk, to: str, data: str) -> str:
    answer = await desk.api.post(
        "/v1/inbound/telegram", json=telegram.callback_update(to, data), headers=SECRET
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["text"])


async def test_attendance_and_rating_buttons_of_a_visit_each_land_in_the_lifecycle(
    desk: Desk, fakes: Fakes
) -> None:
    to, ref = chat(), "btn-a"
    starts_at = await local_day(desk.clinic, 3, time(14, 0))
    await desk.clinic.post(
        "appointment.confirmed", appointment(ref, starts_at, patient=patient(telegram_chat_id=to))
    )
    await desk.clinic.advance_to(starts_at - timedelta(hours=23), ref)
    [attend, decline] = (await keyboards(desk, fakes, to))["visit_reminder"]
    assert await press(desk, to, attend) == THANKS
    await until(desk, ref, lambda state: state.view is not None and state.view.attendance == "confirmed")
    assert await press(desk, to, decline) == THANKS
    await until(desk, ref, lambda state: state.view is not None and state.view.attendance == "declined")

    # Completed; nobody rates the request, so the follow-up goes too; then every star of both.
    ref = "btn-a2"
    starts_at = await local_day(desk.clinic, 1, time(14, 0))
    await desk.clinic.post(
        "appointment.confirmed", appointment(ref, starts_at, patient=patient(telegram_chat_id=to))
    )
    await desk.clinic.advance_to(starts_at + timedelta(minutes=40), ref)
    await desk.clinic.post("appointment.completed", {"appointment_id": ref})
    await desk.clinic.advance(timedelta(hours=27), ref)
    walked = await keyboards(desk, fakes, to)
    for template in ("feedback_request", "feedback_followup"):
        assert len(walked[template]) == 5
        for stars, data in enumerate(walked[template], start=1):
            assert await press(desk, to, data) == THANKS
            await until(desk, ref, rated(stars))


async def test_trial_lesson_feedback_buttons_rate_the_lesson(desk: Desk, fakes: Fakes) -> None:
    to, ref = chat(), "lesson:btn-l"
    starts_at = await local_day(desk.clinic, 1, time(15, 0))
    guardian = {
        "id": "guardian-b",
        "name": "Ольга",
        "locale": "ru",
        "timezone": "Europe/Moscow",
        "telegram_chat_id": to,
    }
    await desk.clinic.post("lesson.scheduled", lesson("btn-l", starts_at, trial=True, guardian=guardian))
    await desk.clinic.advance_to(starts_at + timedelta(hours=1), ref)
    await desk.clinic.post("lesson.completed", {"lesson_id": "btn-l"})
    await desk.clinic.advance(timedelta(hours=27), ref)
    walked = await keyboards(desk, fakes, to)
    for template in ("lesson_feedback_request", "lesson_feedback_followup"):
        assert len(walked[template]) == 5
        for stars, data in enumerate(walked[template], start=1):
            assert await press(desk, to, data) == THANKS
            await until(desk, ref, rated(stars, lesson=True))


async def i_have_paid(desk: Desk, fakes: Fakes, ref: str, template: str, to: str, staff: str) -> list[str]:
    """Press the nudge's only button; what staff were told about it (the next business morning)."""
    [paid] = (await keyboards(desk, fakes, to))[template]
    assert await press(desk, to, paid) == PAID
    await until(desk, ref, lambda state: state.summary["reported_at"] is not None)
    await desk.clinic.advance(timedelta(days=1), ref)
    return [r["payload"]["text"] for r in fakes.telegram.sent() if r.get("chat_id") == staff]


async def test_ive_paid_on_an_invoice_tells_staff_naming_it_and_holds_the_nudges(
    desk: Desk, fakes: Fakes
) -> None:
    staff, to, ref = await staff_chat(desk), chat(), "invoice:btn-i"
    due_at = await local_day(desk.clinic, 1, time(10, 0))
    await desk.clinic.post(
        "invoice.issued", invoice("btn-i", due_at, contact=payer(id="payer-b", telegram_chat_id=to))
    )
    await desk.clinic.advance_to(due_at + timedelta(hours=1), ref)

    told = await i_have_paid(desk, fakes, ref, "payment_nudge", to, staff)

    assert len(told) == 1 and "btn-i" in told[0], told
    await desk.clinic.advance(timedelta(days=8), ref)
    rows = {row.step: row for row in await desk.clinic.deliveries(ref)}
    assert rows["nudge-1-s1"].status == "sent"
    held = [rows["nudge-2-s1"], rows["nudge-3-s1"]]
    assert all(row.status == "skipped" and "says it is paid" in str(row.reason) for row in held)
    timeline = await desk.api.get(
        "/v1/timeline/invoice/btn-i", headers={"Authorization": f"Bearer key-{desk.clinic.tenant}"}
    )
    assert timeline.status_code == 200
    assert "staff_payment_reported" in timeline.text and "reported_at" in timeline.text


async def test_ive_paid_on_a_low_balance_tells_staff_naming_the_account(desk: Desk, fakes: Fakes) -> None:
    staff, to, ref = await staff_chat(desk), chat(), "balance:btn-b"
    await desk.clinic.post(
        "balance.low", {**balance("btn-b"), "contact": payer(id="payer-c", telegram_chat_id=to)}
    )

    told = await i_have_paid(desk, fakes, ref, "balance_nudge", to, staff)

    assert len(told) == 1 and "btn-b" in told[0], told


async def test_a_lesson_rating_by_sms_digit_rates_the_lesson(desk: Desk, fakes: Fakes) -> None:
    # What asks for a word or a digit by SMS is walked with its buttons; lessons' ratings here.
    assert set(QUESTIONS) <= WALKED | set(WALKED_ELSEWHERE)
    number, ref = f"+4477008{next(_n) + 41000:05d}", "lesson:btn-s"
    guardian = {
        "id": "guardian-s",
        "name": "Ольга",
        "locale": "ru",
        "timezone": "Europe/Moscow",
        "phone": number,
    }
    await desk.clinic.store.upsert_contact(desk.clinic.tenant, Contact.model_validate(guardian))
    starts_at = await local_day(desk.clinic, 1, time(15, 0))
    await desk.clinic.post("lesson.scheduled", lesson("btn-s", starts_at, trial=True, guardian=guardian))
    await desk.clinic.advance_to(starts_at + timedelta(hours=1), ref)
    await desk.clinic.post("lesson.completed", {"lesson_id": "btn-s"})
    await desk.clinic.advance(timedelta(hours=3), ref)
    assert "feedback_request" in await desk.clinic.steps(ref, "sent")

    assert (await text(desk, fakes, number, "4 отлично")).status_code == 200

    await until(desk, ref, lambda state: state.summary["rating"] == 4)


async def test_an_sms_reminder_asks_for_1_or_2_only_where_the_answer_comes_back(
    desk: Desk, fakes: Fakes
) -> None:
    twilio_number, aero_number = f"+4477008{next(_n) + 42000:05d}", f"+7916{next(_n) + 4200000:07d}"
    starts_at = await local_day(desk.clinic, 3, time(14, 0))
    for ref, number in (("ask-t", twilio_number), ("ask-a", aero_number)):
        person = patient(id=f"p-{ref}", phone=number, preferred_channels=["sms"])
        await desk.clinic.post("appointment.confirmed", appointment(ref, starts_at, patient=person))
    await desk.clinic.advance_to(starts_at - timedelta(hours=23), "ask-a")

    [*_, by_twilio] = [r["payload"]["Body"] for r in fakes.twilio.sent() if r["to"] == twilio_number]
    [*_, by_aero] = [
        r["payload"]["text"] for r in fakes.smsaero.sent() if r["payload"]["number"] == aero_number[1:]
    ]
    assert "Ответьте 1 — да, 2 — нет" in by_twilio
    assert "Ответьте" not in by_aero and "Напоминаем" in by_aero  # SMS Aero hands no reply back
