"""Recalls on the time-skipping server: invitations from the due date, held by a booking, re-armed."""

from __future__ import annotations

import asyncio
import calendar
from collections.abc import AsyncIterator, Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from activities import release
from channels import OutgoingMessage, SendReceipt
from domain import recall
from domain.contacts import Channel
from domain.planning import StepRecord
from domain.recall import RecallPlan, RecallView
from domain.settings import TenantSettings
from store import Store
from tests.factories import appointment, patient
from tests.workflows.harness import Clinic, running_clinic, skip
from worker import build_worker
from workflows.inputs import LifecycleState

MOSCOW = ZoneInfo("Europe/Moscow")
BOOKING = "https://clinic.example/book"
RECALL = "recall:patient-1:hygiene"
# A bug in a workflow (a non-deterministic replay included) fails the test at once.
FAIL_FAST: dict[str, Any] = {"workflow_failure_exception_types": [Exception]}


class RecordingSms:
    """An SMS gateway that takes every message and remembers it: what the patient's phone receives."""

    provider = "recording-sms"

    def __init__(self) -> None:
        self.received: list[OutgoingMessage] = []

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        self.received.append(message)
        return SendReceipt(provider=self.provider, provider_message_id=f"sms-{len(self.received)}")

    def invitations(self) -> list[OutgoingMessage]:
        return [m for m in self.received if m.template == "recall_invitation"]


@pytest_asyncio.fixture
async def phone() -> RecordingSms:
    return RecordingSms()


@pytest_asyncio.fixture
async def clinic(
    time_env: WorkflowEnvironment, store: Store, task_queue: str, phone: RecordingSms
) -> AsyncIterator[Clinic]:
    async with running_clinic(time_env, store, task_queue, adapters={Channel.SMS: phone}) as clinic:
        await store.put_settings(
            clinic.tenant,
            TenantSettings.model_validate(
                {
                    "timezone": "Europe/Moscow",
                    "booking_url": BOOKING,
                    # The factories' check-up (`CHK`) is followed by a hygiene recall.
                    "recall_intervals": {"CHK": {"recall_type": "hygiene", "interval": "P6M1D"}},
                }
            ),
        )
        await clinic.wait_until_local(time(12, 0))
        yield clinic


async def local_day(clinic: Clinic, days: int, at: time) -> datetime:
    today = (await clinic.now()).astimezone(MOSCOW).date()
    return datetime.combine(today + timedelta(days=days), at, tzinfo=MOSCOW)


async def until(clinic: Clinic, ref: str, check: Callable[[LifecycleState], bool]) -> LifecycleState:
    """The recall's state once `check` holds: what an appointment tells it arrives on its own time."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        state = await clinic.settle(ref)
        if check(state):
            return state
        assert asyncio.get_running_loop().time() < deadline, f"never reached: {state}"
        await asyncio.sleep(0.1)


async def set_recall(clinic: Clinic, due_at: datetime) -> None:
    data = {"patient": patient(), "recall_type": "hygiene", "due_at": due_at.isoformat()}
    await clinic.post("recall.set", data)


async def test_invites_on_the_due_date_then_on_the_ladder_in_the_patients_hours(
    clinic: Clinic, phone: RecordingSms
) -> None:
    due = await local_day(clinic, 10, time(7, 0))  # before 09:00: quiet hours move it to 09:00
    await set_recall(clinic, due)
    await clinic.advance_to(due - timedelta(hours=1), RECALL)
    assert phone.invitations() == []

    await clinic.advance_to(due + timedelta(hours=3), RECALL)
    [first] = phone.invitations()
    assert BOOKING in first.body and first.recipient.phone == patient()["phone"]
    [row] = await clinic.deliveries(RECALL)
    assert row.scheduled_for.astimezone(MOSCOW).time() == time(9, 0)

    await clinic.advance_to(due + timedelta(days=14, hours=3), RECALL)
    assert len(phone.invitations()) == 2
    await clinic.advance_to(due + timedelta(days=30, hours=3), RECALL)
    assert len(phone.invitations()) == 3
    assert "Последнее" in phone.invitations()[-1].body
    await clinic.advance(timedelta(days=20), RECALL)
    assert len(phone.invitations()) == 3
    assert (await clinic.state(RECALL)).closed


async def test_no_invitation_while_an_appointment_is_booked_and_a_visit_rearms_it(
    clinic: Clinic, phone: RecordingSms
) -> None:
    due = await local_day(clinic, 10, time(12, 0))
    await set_recall(clinic, due)
    visit = await local_day(clinic, 20, time(15, 0))
    # Booked before the due date, for after it: the due and +14 d invitations are held.
    await clinic.post("appointment.confirmed", appointment("a-1", visit), sequence=1)
    await until(clinic, RECALL, lambda state: state.status == "suppressed")
    await clinic.advance_to(visit - timedelta(hours=3), "a-1")
    await clinic.settle(RECALL)
    assert phone.invitations() == []
    assert len(phone.received) >= 2  # the appointment's own confirmation and reminders did go

    await clinic.advance_to(visit + timedelta(hours=1), "a-1")
    await clinic.post("appointment.completed", {"appointment_id": "a-1"}, sequence=2)
    state = await until(clinic, RECALL, lambda state: state.status == "open")
    assert not state.closed
    # Re-armed: the first invitation of the next cycle, six months and a day after the visit.
    [first_planned, *_] = state.planned
    assert first_planned.step == "invite-1-c2"
    completed = visit + timedelta(hours=1)
    assert first_planned.send_at.astimezone(MOSCOW).replace(microsecond=0) == datetime(
        *six_months_and_a_day(completed), 16, 0, tzinfo=MOSCOW
    )
    await clinic.advance_to(first_planned.send_at - timedelta(hours=1), RECALL)
    assert phone.invitations() == []
    await clinic.advance_to(first_planned.send_at + timedelta(hours=1), RECALL)
    assert len(phone.invitations()) == 1


async def test_a_cancelled_booking_lets_the_current_invitation_go(
    clinic: Clinic, phone: RecordingSms
) -> None:
    due = await local_day(clinic, 5, time(12, 0))
    await set_recall(clinic, due)
    await clinic.post("appointment.confirmed", appointment("a-2", due + timedelta(days=20)), sequence=1)
    await clinic.advance_to(due + timedelta(days=3), RECALL)
    assert phone.invitations() == []
    await clinic.post(
        "appointment.cancelled", {"appointment_id": "a-2", "cancelled_by": "patient"}, sequence=2
    )
    state = await until(clinic, RECALL, lambda state: "invite-1-c1" in state.done)
    assert len(phone.invitations()) == 1  # the due-date invitation, late but not expired
    assert [message.step for message in state.planned] == ["invite-2-c1", "invite-3-c1"]


async def test_dismissed_ends_it(clinic: Clinic, phone: RecordingSms) -> None:
    due = await local_day(clinic, 3, time(12, 0))
    await set_recall(clinic, due)
    await clinic.post("recall.dismissed", {"patient_id": "patient-1", "recall_type": "hygiene"})
    await skip(clinic.env, timedelta(days=40))
    assert phone.invitations() == []
    assert (await clinic.state(RECALL)).closed


async def test_a_completed_visit_of_a_service_with_an_interval_opens_the_recall(
    clinic: Clinic, phone: RecordingSms
) -> None:
    visit = await local_day(clinic, 2, time(10, 0))
    await clinic.post("appointment.confirmed", appointment("a-3", visit), sequence=1)
    await clinic.advance_to(visit + timedelta(hours=1), "a-3")
    await clinic.post("appointment.completed", {"appointment_id": "a-3"}, sequence=2)
    clinic.started.add(clinic.workflow_id(RECALL))
    [first, *_] = (await until(clinic, RECALL, lambda state: bool(state.planned))).planned
    # Six months and a day on the patient's calendar, at the time the visit was completed.
    assert first.step == "invite-1-c1"
    assert first.send_at.astimezone(MOSCOW).replace(microsecond=0) == datetime(
        *six_months_and_a_day(visit), 11, 0, tzinfo=MOSCOW
    )
    await clinic.advance_to(first.send_at + timedelta(hours=1), RECALL)
    [invitation] = phone.invitations()
    assert BOOKING in invitation.body


def six_months_and_a_day(moment: datetime) -> tuple[int, int, int]:
    """The local date six calendar months and one day after `moment` (31 Aug -> 28 Feb + 1 d)."""
    local = moment.astimezone(MOSCOW)
    index = local.year * 12 + local.month - 1 + 6
    year, month = index // 12, index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    later = datetime(year, month, day, tzinfo=MOSCOW) + timedelta(days=1)
    return later.year, later.month, later.day


async def test_a_recall_opened_before_a_release_that_changed_its_planner_goes_on_under_the_new_rules(
    time_env: WorkflowEnvironment,
    store: Store,
    task_queue: str,
    phone: RecordingSms,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clinic = Clinic(time_env, store, task_queue)
    await store.ensure_tenant(clinic.tenant, "Test clinic", f"key-{clinic.tenant}")
    await store.put_settings(clinic.tenant, TenantSettings(timezone="Europe/Moscow", booking_url=BOOKING))
    adapters = {Channel.SMS: phone}
    try:
        # No cache on the old worker: its tasks go to the shared queue, none waits for it once gone.
        old = build_worker(
            time_env.client, store, task_queue, adapters=adapters, max_cached_workflows=0, **FAIL_FAST
        )
        async with old:
            await clinic.wait_until_local(time(12, 0))
            due = await local_day(clinic, 10, time(12, 0))
            await set_recall(clinic, due)
        # Released while it sleeps: the new planner invites a week after the due date, not two.
        released = recall.plan_recall

        def weekly(view: RecallView, settings: TenantSettings, done: dict[str, StepRecord]) -> RecallPlan:
            ladder = [timedelta(0), timedelta(days=7), timedelta(days=21)]
            return released(view, settings.model_copy(update={"recall_ladder": ladder}), done)

        monkeypatch.setattr(recall, "plan_recall", weekly)
        monkeypatch.setattr(release, "current", lambda: "the release with weekly invitations")
        async with build_worker(time_env.client, store, task_queue, adapters=adapters, **FAIL_FAST):
            # Its history replays on the new code: the invitation planned before goes as planned...
            await clinic.advance_to(due + timedelta(hours=1), RECALL)
            assert len(phone.invitations()) == 1
            # ...and the next plan follows the new rules.
            await clinic.advance_to(due + timedelta(days=7, hours=1), RECALL)
            assert len(phone.invitations()) == 2
            state = await clinic.state(RECALL)
            assert not state.closed and [m.step for m in state.planned] == ["invite-3-c1"]
    finally:
        await clinic.stop_all()
