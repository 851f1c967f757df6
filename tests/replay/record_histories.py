"""Record finished runs of every workflow as JSON histories for the replay test.

Run after a change to the workflows' command sequence (guarded by `workflow.patched`), into a new
folder named for that shape; the older folders stay, so runs started before it must still replay:
    .venv/bin/python -m tests.replay.record_histories v5-same-release
    .venv/bin/python -m tests.replay.record_histories v5-same-release staff-digest   # only that one

Besides one run of each workflow, it records the paths a shape can take: a send that fails its
first attempt and is cancelled while it retries, a staff alert, a provider's `failed` callback
sent on the next channel, a start with the tenant's settings in the input, and both runs of a chat
that continued as new.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from datetime import time, timedelta
from pathlib import Path

from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.models import AnswerInput
from api.answers import answer_draft
from channels import OutgoingMessage, ProviderUnavailable, RecipientUnreachable, SendReceipt
from domain.bundles import Bundle
from domain.contacts import Channel, Contact
from domain.events import EVENT_DATA, WaitlistJoined
from domain.settings import TenantSettings
from store import Store, Waitlist, migrate
from tests.factories import appointment, balance, chat_message, event, invoice, lesson, patient
from tests.workflows.harness import Clinic, running_clinic, skip
from workflows.answer import AnswerWorkflow
from workflows.answer import workflow_id as answer_workflow_id
from workflows.inputs import DeliveryFailed
from workflows.routes import route, signal_with_start


class FlakySms:
    """An SMS provider that is down for the numbers it is told, until told otherwise, and refuses
    dead ones."""

    provider = "flaky"

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.dead: set[str] = set()

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        if message.recipient.phone in self.dead:
            raise RecipientUnreachable("flaky: no such number", provider=self.provider)
        if message.recipient.phone in self.down:
            raise ProviderUnavailable("flaky: down", provider=self.provider)
        return SendReceipt(provider=self.provider, provider_message_id=f"flaky-{message.delivery_id}")


SMS = FlakySms()
STAFF = Contact(id="admin-1", name="Admin", locale="ru", timezone="Europe/Moscow", phone="+79990000001")

HISTORIES = Path(__file__).with_name("histories")


async def _appointment(clinic: Clinic) -> str:
    starts_at = await clinic.now() + timedelta(days=2)
    await clinic.post("appointment.requested", appointment("r-1", starts_at), sequence=1)
    await clinic.post("appointment.confirmed", appointment("r-1", starts_at), sequence=2)
    await clinic.advance(timedelta(days=1, hours=2), "r-1")
    await clinic.post(
        "appointment.cancelled", {"appointment_id": "r-1", "cancelled_by": "patient"}, sequence=3
    )
    return "r-1"


async def _lesson(clinic: Clinic) -> str:
    starts_at = await clinic.now() + timedelta(days=2)
    await clinic.post("lesson.scheduled", lesson("r-2", starts_at, trial=True), sequence=1)
    await clinic.advance_to(starts_at + timedelta(hours=1), "lesson:r-2")
    await clinic.post("lesson.completed", {"lesson_id": "r-2"}, sequence=2)
    await clinic.post("feedback.submitted", {"subject_id": "r-2", "rating": 5, "subject_kind": "lesson"})
    await clinic.advance(timedelta(days=8), "lesson:r-2")
    return "lesson:r-2"


async def _invoice(clinic: Clinic) -> str:
    due = await clinic.now() + timedelta(days=1)
    await clinic.post("invoice.issued", invoice("r-3", due), sequence=1)
    await clinic.advance(timedelta(days=2), "invoice:r-3")
    await clinic.post("invoice.paid", invoice("r-3", due), sequence=2)
    return "invoice:r-3"


async def _chat(clinic: Clinic) -> str:
    await clinic.post("chat.message_sent", chat_message("r-4", "m-1"))
    await clinic.advance(timedelta(seconds=6), "chat:r-4")
    await clinic.post("chat.message_read", chat_message("r-4", "m-1"))
    await clinic.advance(timedelta(days=2), "chat:r-4")
    return "chat:r-4"


async def _notification(clinic: Clinic) -> str:
    """A one-off at a later `send_at`, requested twice: it goes once."""
    data = {
        "notification_id": "r-9",
        "contact": patient(id="r-9", phone="+79990000009"),
        "template": "order_status",
        "data": {"order_id": "10482", "status": "shipped"},
        "send_at": (await clinic.now() + timedelta(hours=2)).isoformat(),
        "category": "transactional",
    }
    await clinic.post("notification.requested", data)
    await clinic.post("notification.requested", data)
    await clinic.advance(timedelta(hours=3), "notification:r-9")
    return "notification:r-9"


async def _staff_digest(clinic: Clinic) -> str:
    """Two bookings to confirm within the digest's window: one BundleWorkflow round sends both."""
    settings = await clinic.store.get_settings(clinic.tenant)
    await clinic.store.put_settings(clinic.tenant, settings.model_copy(update={"staff_digest_minutes": 10}))
    starts_at = await clinic.now() + timedelta(days=3)
    for n in (1, 2):
        await clinic.post("appointment.requested", appointment(f"r-1{n}", starts_at), sequence=1)
    bundle = Bundle("staff", f"staff:{STAFF.id}", timedelta(minutes=10))
    handle = clinic.env.client.get_workflow_handle(bundle.workflow_id(clinic.tenant))
    await skip(clinic.env, timedelta(minutes=11))
    await handle.result()
    await clinic.store.put_settings(clinic.tenant, settings)
    return "bundle:" + bundle.workflow_id(clinic.tenant).rsplit(":", 1)[1]


async def _cancelled_in_flight(clinic: Clinic) -> str:
    """A reminder retrying through an outage when the appointment is cancelled; a failed callback."""
    starts_at = await clinic.now() + timedelta(days=2)
    anna = patient(id="r-5", phone="+79990000005", email="anna@example.org", preferred_channels=["sms"])
    await clinic.post("appointment.confirmed", appointment("r-5", starts_at, patient=anna), sequence=1)
    confirmation = (await clinic.deliveries("r-5"))[0]
    notice = DeliveryFailed(step=confirmation.step, channel=str(confirmation.channel), reason="undelivered")
    await clinic.env.client.get_workflow_handle(clinic.workflow_id("r-5")).signal("delivery_failed", notice)
    await clinic.settle("r-5")
    SMS.down.add(anna["phone"])
    await skip(clinic.env, timedelta(days=1, minutes=5))
    await asyncio.sleep(2)  # the reminder's first attempts fail
    await clinic.post(
        "appointment.cancelled", {"appointment_id": "r-5", "cancelled_by": "clinic"}, sequence=2, settle=False
    )
    await asyncio.sleep(3)
    SMS.down.clear()
    await clinic.advance(timedelta(days=2), "r-5")
    return "r-5"


async def _failed_with_staff_alert(clinic: Clinic) -> str:
    """A confirmation nobody can receive: staff are told."""
    starts_at = await clinic.now() + timedelta(days=2)
    nobody = patient(id="r-6", phone="+79990000006")
    SMS.dead.add(nobody["phone"])
    await clinic.post("appointment.confirmed", appointment("r-6", starts_at, patient=nobody), sequence=1)
    await clinic.post(
        "appointment.cancelled", {"appointment_id": "r-6", "cancelled_by": "clinic"}, sequence=2
    )
    return "r-6"


async def _balance_with_settings(clinic: Clinic) -> str:
    """A lifecycle started with the tenant's settings in its input, as the relay starts them."""
    data = balance("r-7")
    low = event("balance.low", data, received_at=await clinic.now(), tenant=clinic.tenant)
    target = route(clinic.tenant, "balance.low", EVENT_DATA["balance.low"].model_validate(data))
    assert target is not None
    target.input.settings = await clinic.store.get_settings(clinic.tenant)
    await signal_with_start(clinic.env.client, clinic.task_queue, target, [low])
    clinic.started.add(target.workflow_id)
    await clinic.advance(timedelta(days=1), "balance:r-7")
    await clinic.post("balance.topped_up", data)
    return "balance:r-7"


RECALLS = {"recall_intervals": {"CHK": {"recall_type": "hygiene", "interval": "P6M1D"}}}


async def _recall(clinic: Clinic) -> str:
    """A recall invited on its due date, held by a booking, re-armed by the visit, then dismissed."""
    settings = await clinic.store.get_settings(clinic.tenant)
    rules = TenantSettings.model_validate(RECALLS).recall_intervals
    await clinic.store.put_settings(clinic.tenant, settings.model_copy(update={"recall_intervals": rules}))
    anna = patient(id="r-9", phone="+79990000009")
    due = await clinic.now() + timedelta(days=2)
    await clinic.post("recall.set", {"patient": anna, "recall_type": "hygiene", "due_at": due.isoformat()})
    await clinic.advance(timedelta(days=3), "recall:r-9:hygiene")
    visit = await clinic.now() + timedelta(days=5)
    await clinic.post("appointment.confirmed", appointment("r-9", visit, patient=anna), sequence=1)
    await clinic.advance_to(visit + timedelta(hours=1), "r-9")
    await clinic.post("appointment.completed", {"appointment_id": "r-9"}, sequence=2)
    await asyncio.sleep(1)  # the appointment tells the recall: re-armed six months on
    await clinic.advance(timedelta(days=1), "recall:r-9:hygiene")
    await clinic.post("recall.dismissed", {"patient_id": "r-9", "recall_type": "hygiene"})
    return "recall:r-9:hygiene"


async def _appointment_tells_recalls(clinic: Clinic) -> str:
    """A completed check-up (its service has a recall interval) opens the patient's recall."""
    starts_at = await clinic.now() + timedelta(days=1)
    await clinic.post("appointment.confirmed", appointment("r-10", starts_at), sequence=1)
    await clinic.advance_to(starts_at + timedelta(hours=1), "r-10")
    await clinic.post("appointment.completed", {"appointment_id": "r-10"}, sequence=2)
    await asyncio.sleep(1)
    clinic.started.add(clinic.workflow_id("recall:patient-1:hygiene"))
    await clinic.advance(timedelta(days=9), "r-10")  # feedback asked, then the appointment ends
    return "r-10"


async def _slot_offer(clinic: Clinic) -> str:
    """A freed slot offered to 12 waitlisted patients in two batches; two say yes, the first wins."""
    waitlist = Waitlist(clinic.store.engine)
    since = await clinic.now() - timedelta(days=7)
    for n in range(12):
        person = patient(id=f"r-11-{n}", phone=f"+799900011{n:02d}")
        await clinic.store.upsert_contact(clinic.tenant, Contact.model_validate(person))
        joined = WaitlistJoined.model_validate({"entry_id": f"w-{n}", "patient": person})
        await waitlist.join(clinic.tenant, joined, since + timedelta(hours=n))
    slot = appointment("r-11", await clinic.now() + timedelta(hours=3))
    del slot["appointment_id"], slot["patient"]
    await clinic.post("slot.freed", {"slot_id": "r-11", **slot})
    await clinic.advance(timedelta(minutes=5), "slot:r-11")
    offers = [row for row in await clinic.deliveries("slot:r-11") if row.template == "slot_offer"]
    for row in (offers[3], offers[0]):
        accepted = {"slot_id": "r-11", "step": row.step, "contact_id": row.contact_id, "delivery_id": row.id}
        await clinic.post("slot.accepted", accepted)
    await clinic.advance(timedelta(hours=4), "slot:r-11")
    return "slot:r-11"


async def _answer(clinic: Clinic, n: int, for_good: bool) -> str:
    """The answer to a patient's reply that the provider refused twice, or every time (it fails)."""
    phone = f"+7999000{n:04d}"
    anna = Contact(id=f"r-{n}", phone=phone)
    draft = answer_draft(clinic.tenant, f"r-{n}", "help", await clinic.now())
    row, _ = await clinic.store.begin_delivery(draft)
    SMS.down.add(phone)
    answer = AnswerInput(
        tenant=clinic.tenant,
        delivery_id=row.id,
        channel=Channel.SMS,
        recipient=anna,
        text="Help",
        wait_seconds=1.0,
    )
    handle = await clinic.env.client.start_workflow(
        AnswerWorkflow.run, answer, id=answer_workflow_id(row.idempotency_key), task_queue=clinic.task_queue
    )
    for tick in range(40):
        await asyncio.sleep(1)  # an attempt fails
        if tick == 2 and not for_good:
            SMS.down.discard(phone)
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            break
        await skip(clinic.env, timedelta(seconds=30))
    return handle.id


async def _chat_continued(clinic: Clinic) -> tuple[str, str]:
    clinic.history_limit = 40
    for n in range(1, 16):
        await clinic.post("chat.message_sent", chat_message("r-8", f"m-{n}"), settle=False)
        await clinic.post("chat.message_read", chat_message("r-8", f"m-{n}"), settle=False)
    await asyncio.sleep(2)
    first_run = (
        await clinic.env.client.get_workflow_handle(clinic.workflow_id("chat:r-8")).describe()
    ).run_id
    await clinic.post("chat.message_sent", chat_message("r-8", "m-last"))
    await clinic.advance(timedelta(days=2), "chat:r-8")
    clinic.history_limit = None
    handle = clinic.env.client.get_workflow_handle(clinic.workflow_id("chat:r-8"))
    started = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
    return "chat:r-8", started.continued_execution_run_id or first_run


async def main(version: str, only: list[str]) -> None:
    folder_out = HISTORIES / version
    folder_out.mkdir(parents=True, exist_ok=True)
    server = Path(sys.executable).parent / "temporal-test-server"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(server), data_converter=pydantic_data_converter
    )
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/replay.db"
        migrate(url)
        store = Store(url)
        async with running_clinic(
            env, store, f"replay-{uuid.uuid4()}", adapters={Channel.SMS: SMS}
        ) as clinic:
            await store.put_settings(
                clinic.tenant, TenantSettings(timezone="Europe/Moscow", staff_recipients=[STAFF])
            )
            await clinic.wait_until_local(time(12, 0))
            named = {
                "appointment": _appointment,
                "lesson": _lesson,
                "invoice": _invoice,
                "chat": _chat,
                "appointment-cancelled-in-flight": _cancelled_in_flight,
                "appointment-failed-staff-alert": _failed_with_staff_alert,
                "balance-settings-in-input": _balance_with_settings,
                "notification": _notification,
                "staff-digest": _staff_digest,
                "recall": _recall,
                "appointment-tells-recalls": _appointment_tells_recalls,
                "slot-offer": _slot_offer,
            }
            for name, scenario in named.items():
                if only and name not in only:
                    continue
                ref = await scenario(clinic)
                await _save(env, clinic.workflow_id(ref), folder_out / f"{name}.json")
            if not only or "answer" in only:
                await _save(env, await _answer(clinic, 12, for_good=False), folder_out / "answer.json")
            if not only or "answer-given-up" in only:
                await _save(
                    env, await _answer(clinic, 13, for_good=True), folder_out / "answer-given-up.json"
                )
            if not only or "chat-continued" in only:
                ref, first_run = await _chat_continued(clinic)
                await _save(env, clinic.workflow_id(ref), folder_out / "chat-continued.json")
                await _save(env, clinic.workflow_id(ref), folder_out / "chat-before-continue.json", first_run)
        await store.close()
    await env.shutdown()


async def _save(env: WorkflowEnvironment, workflow_id: str, path: Path, run_id: str | None = None) -> None:
    handle = env.client.get_workflow_handle(workflow_id, run_id=run_id)
    if run_id is None:
        await handle.result()
    history = await handle.fetch_history()
    await asyncio.to_thread(path.write_text, history.to_json())
    print(f"recorded {path.stem}: {len(history.events)} events")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    # Names after the folder record only those scenarios (a new workflow type's history).
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
