"""The appointment lifecycle on the time-skipping server, with the real activities and store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from activities import release
from channels import OutgoingMessage, RecipientUnreachable, SendReceipt
from domain.contacts import Channel, Contact
from domain.settings import TenantSettings
from store import Store
from tests.factories import appointment
from tests.workflows.harness import Clinic, running_clinic

MOSCOW = ZoneInfo("Europe/Moscow")
STAFF = Contact(
    id="staff-1", name="Ольга", locale="ru", timezone="Europe/Moscow", email="desk@clinic.example"
)


@pytest_asyncio.fixture
async def clinic(time_env: WorkflowEnvironment, store: Store, task_queue: str) -> AsyncIterator[Clinic]:
    async with running_clinic(time_env, store, task_queue) as clinic:
        await store.put_settings(
            clinic.tenant, TenantSettings(timezone="Europe/Moscow", staff_recipients=[STAFF])
        )
        await clinic.wait_until_local(time(12, 0))  # noon in Moscow: outside quiet hours
        yield clinic


async def local_day(clinic: Clinic, days: int, at: time, tz: ZoneInfo = MOSCOW) -> datetime:
    today = (await clinic.now()).astimezone(tz).date()
    return datetime.combine(today + timedelta(days=days), at, tzinfo=tz)


async def test_confirmed_appointment_gets_confirmation_with_ics_then_two_reminders(clinic: Clinic) -> None:
    starts_at = await local_day(clinic, 3, time(14, 0))
    await clinic.post("appointment.confirmed", appointment("a-1", starts_at))

    [confirmation] = await clinic.deliveries("a-1")
    assert confirmation.step == "confirmed" and confirmation.status == "sent"
    assert confirmation.template == "appointment_confirmed" and confirmation.channel == "sms"
    invite = icalendar.Calendar.from_ical(confirmation.attachments[0].content)
    [vevent] = invite.walk("VEVENT")
    assert vevent.decoded("DTSTART").astimezone(UTC) == starts_at.astimezone(UTC)
    assert "{{" not in (confirmation.body or "")

    await clinic.advance_to(starts_at - timedelta(hours=24, minutes=1), "a-1")
    assert await clinic.steps("a-1") == ["confirmed"]
    await clinic.advance_to(starts_at - timedelta(hours=23), "a-1")
    assert await clinic.steps("a-1", "sent") == ["confirmed", "reminder-24h-v0"]
    await clinic.advance_to(starts_at - timedelta(hours=1), "a-1")
    rows = await clinic.deliveries("a-1")
    assert [r.step for r in rows] == ["confirmed", "reminder-24h-v0", "reminder-2h-v0"]
    assert rows[1].scheduled_for == starts_at - timedelta(hours=24)
    assert rows[2].scheduled_for == starts_at - timedelta(hours=2)
    assert "14:00" in (rows[2].body or "")


async def test_online_booking_tells_patient_alerts_staff_and_escalates_after_the_sla(clinic: Clinic) -> None:
    starts_at = await local_day(clinic, 2, time(15, 0))
    await clinic.post("appointment.requested", appointment("a-2", starts_at))
    # Both go at once: the log's order between them is the order their rows were written.
    assert sorted(await clinic.steps("a-2", "sent")) == ["booking_received", "to_confirm/staff-1"]
    staff_alert = next(row for row in await clinic.deliveries("a-2") if row.step == "to_confirm/staff-1")
    assert staff_alert.contact_id == "staff-1" and staff_alert.channel == "email"

    await clinic.advance(timedelta(minutes=31), "a-2")
    assert "confirmation_overdue/staff-1" in await clinic.steps("a-2", "sent")
    assert (await clinic.state("a-2")).status == "pending_confirmation"


async def test_booking_confirmed_within_the_sla_is_not_escalated(clinic: Clinic) -> None:
    starts_at = await local_day(clinic, 2, time(15, 0))
    await clinic.post("appointment.requested", appointment("a-3", starts_at), sequence=1)
    await clinic.advance(timedelta(minutes=10), "a-3")
    await clinic.post("appointment.confirmed", appointment("a-3", starts_at), sequence=2)
    await clinic.advance(timedelta(hours=1), "a-3")
    steps = await clinic.steps("a-3")
    assert "confirmed" in steps
    assert not any(step.startswith("confirmation_overdue") for step in steps)


async def test_night_booking_for_early_next_morning_is_flagged_to_staff_at_once(clinic: Clinic) -> None:
    night = await clinic.wait_until_local(time(23, 30))
    starts_at = datetime.combine(night.date() + timedelta(days=1), time(9, 30), tzinfo=MOSCOW)
    await clinic.post("appointment.requested", appointment("a-4", starts_at))
    rows = {row.step: row for row in await clinic.deliveries("a-4")}
    assert sorted(rows) == ["booking_received", "to_confirm/staff-1"]
    alert = rows["to_confirm/staff-1"]
    assert alert.status == "sent"
    assert abs(alert.scheduled_for - night) < timedelta(seconds=5)
    assert "Срочно" in (alert.body or "") or "СРОЧНО" in (alert.body or "")


async def test_night_booking_for_next_week_waits_for_business_hours(clinic: Clinic) -> None:
    night = await clinic.wait_until_local(time(23, 30))
    starts_at = datetime.combine(night.date() + timedelta(days=7), time(11, 0), tzinfo=MOSCOW)
    await clinic.post("appointment.requested", appointment("a-5", starts_at))
    assert await clinic.steps("a-5") == ["booking_received"]
    await clinic.advance(timedelta(hours=10), "a-5")
    alert = next(row for row in await clinic.deliveries("a-5") if row.step == "to_confirm/staff-1")
    assert alert.scheduled_for == datetime.combine(
        night.date() + timedelta(days=1), time(9, 0), tzinfo=MOSCOW
    )


def next_spring_forward(after: datetime, tz: ZoneInfo) -> datetime:
    """Noon of the next day whose clocks jump forward in `tz`."""
    day = after.astimezone(tz).date() + timedelta(days=2)
    while True:
        before = datetime.combine(day, time(0, 0), tzinfo=tz).utcoffset()
        noon = datetime.combine(day, time(12, 0), tzinfo=tz)
        if before is not None and noon.utcoffset() is not None and noon.utcoffset() > before:  # type: ignore[operator]
            return noon
        day += timedelta(days=1)


async def test_reminder_across_a_dst_change_keeps_the_patients_wall_clock_time(clinic: Clinic) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    starts_at = next_spring_forward(await clinic.now(), berlin) + timedelta(hours=2)  # 14:00 local
    day_before = datetime.combine(starts_at.date() - timedelta(days=1), time(14, 0), tzinfo=berlin)
    data = appointment("a-6", starts_at)
    data["patient"]["timezone"] = "Europe/Berlin"
    await clinic.post("appointment.confirmed", data)
    await clinic.advance_to(day_before - timedelta(minutes=30), "a-6")
    assert await clinic.steps("a-6") == ["confirmed"]
    await clinic.advance_to(day_before + timedelta(minutes=30), "a-6")
    reminder = (await clinic.deliveries("a-6"))[-1]
    assert reminder.step == "reminder-24h-v0"
    assert reminder.scheduled_for == day_before
    assert starts_at - reminder.scheduled_for == timedelta(hours=23)


async def test_reschedule_after_the_first_reminder_replans_the_second(clinic: Clinic) -> None:
    starts_at = await local_day(clinic, 3, time(14, 0))
    await clinic.post("appointment.confirmed", appointment("a-7", starts_at), sequence=1)
    await clinic.advance_to(starts_at - timedelta(hours=23), "a-7")
    assert await clinic.steps("a-7", "sent") == ["confirmed", "reminder-24h-v0"]

    moved = starts_at + timedelta(days=2, hours=2)
    await clinic.post(
        "appointment.rescheduled",
        {"appointment_id": "a-7", "starts_at": moved.isoformat(), "duration_minutes": 30},
        sequence=2,
    )
    notice = (await clinic.deliveries("a-7"))[-1]
    assert notice.step == "rescheduled-v1" and "16:00" in (notice.body or "")
    await clinic.advance_to(starts_at, "a-7")
    assert "reminder-2h-v0" not in await clinic.steps("a-7")
    await clinic.advance_to(moved - timedelta(hours=1), "a-7")
    rows = {row.step: row for row in await clinic.deliveries("a-7")}
    assert rows["reminder-24h-v1"].scheduled_for == moved - timedelta(hours=24)
    assert rows["reminder-2h-v1"].scheduled_for == moved - timedelta(hours=2)


async def test_cancellation_between_reminders_stops_the_second_and_tells_the_patient(clinic: Clinic) -> None:
    starts_at = await local_day(clinic, 2, time(16, 0))
    await clinic.post("appointment.confirmed", appointment("a-8", starts_at), sequence=1)
    await clinic.advance_to(starts_at - timedelta(hours=20), "a-8")
    await clinic.post(
        "appointment.cancelled",
        {"appointment_id": "a-8", "cancelled_by": "clinic", "reason": "врач заболел"},
        sequence=2,
    )
    await clinic.advance_to(starts_at + timedelta(hours=1), "a-8")
    steps = await clinic.steps("a-8")
    assert steps == ["confirmed", "reminder-24h-v0", "cancelled"]
    cancelled = (await clinic.deliveries("a-8"))[-1]
    assert "врач заболел" in (cancelled.body or "")
    assert "METHOD:CANCEL" in cancelled.attachments[0].content
    assert (await clinic.state("a-8")).closed


async def test_the_same_event_delivered_three_times_has_one_effect(clinic: Clinic) -> None:
    starts_at = await local_day(clinic, 3, time(14, 0))
    for _ in range(3):
        await clinic.post("appointment.confirmed", appointment("a-9", starts_at), event_id="same-id")
    assert await clinic.steps("a-9") == ["confirmed"]
    assert (await clinic.state("a-9")).events == 1


async def test_rescheduled_that_arrives_before_its_confirmed_is_not_lost(clinic: Clinic) -> None:
    starts_at = await local_day(clinic, 3, time(14, 0))
    moved = starts_at + timedelta(days=1, hours=3)
    await clinic.post(
        "appointment.rescheduled",
        {"appointment_id": "a-10", "starts_at": moved.isoformat(), "duration_minutes": 30},
        sequence=2,
    )
    assert await clinic.steps("a-10") == []
    await clinic.post("appointment.confirmed", appointment("a-10", starts_at), sequence=1)
    rows = await clinic.deliveries("a-10")
    [confirmation] = rows
    assert "17:00" in (confirmation.body or "")
    state = await clinic.state("a-10")
    assert state.view is not None and state.view.starts_at == moved
    assert {m.send_at for m in state.planned} == {moved - timedelta(hours=24), moved - timedelta(hours=2)}


async def test_booking_made_an_hour_ahead_skips_both_reminders_with_a_reason(clinic: Clinic) -> None:
    now = await clinic.now()
    starts_at = now + timedelta(hours=1)
    await clinic.post("appointment.confirmed", appointment("a-11", starts_at))
    rows = await clinic.deliveries("a-11")
    skipped = {row.step: row.reason for row in rows if row.status == "skipped"}
    assert set(skipped) == {"reminder-24h-v0", "reminder-2h-v0"}
    assert all("too late" in (reason or "") for reason in skipped.values())
    assert [row.step for row in rows if row.status == "sent"] == ["confirmed"]


async def test_completed_visit_asks_for_feedback_once_more_then_stops(clinic: Clinic) -> None:
    starts_at = await local_day(clinic, 1, time(12, 0))
    await clinic.post("appointment.confirmed", appointment("a-12", starts_at), sequence=1)
    await clinic.advance_to(starts_at + timedelta(minutes=40), "a-12")
    await clinic.post("appointment.completed", {"appointment_id": "a-12"}, sequence=2)
    await clinic.advance(timedelta(hours=2, minutes=1), "a-12")
    assert (await clinic.steps("a-12"))[-1] == "feedback_request"
    await clinic.advance(timedelta(days=1, hours=1), "a-12")
    assert (await clinic.steps("a-12"))[-1] == "feedback_followup"
    await clinic.advance(timedelta(days=8), "a-12")
    assert (await clinic.steps("a-12")).count("feedback_followup") == 1
    assert (await clinic.state("a-12")).closed


async def test_low_rating_alerts_staff_and_stops_the_follow_up(clinic: Clinic) -> None:
    starts_at = await local_day(clinic, 1, time(12, 0))
    await clinic.post("appointment.confirmed", appointment("a-13", starts_at), sequence=1)
    await clinic.advance_to(starts_at + timedelta(minutes=40), "a-13")
    await clinic.post("appointment.completed", {"appointment_id": "a-13"}, sequence=2)
    await clinic.advance(timedelta(hours=3), "a-13")
    await clinic.post("feedback.submitted", {"subject_id": "a-13", "rating": 2, "comment": "долго ждал"})
    await clinic.advance(timedelta(days=2), "a-13")
    steps = await clinic.steps("a-13")
    assert "low_rating/staff-1" in steps and "feedback_followup" not in steps
    alert = next(row for row in await clinic.deliveries("a-13") if row.step == "low_rating/staff-1")
    assert "долго ждал" in (alert.body or "")


async def test_no_show_tells_the_patient_and_ends(clinic: Clinic) -> None:
    starts_at = await local_day(clinic, 1, time(12, 0))
    await clinic.post("appointment.confirmed", appointment("a-14", starts_at), sequence=1)
    await clinic.advance_to(starts_at + timedelta(hours=1), "a-14")
    await clinic.post("appointment.no_show", {"appointment_id": "a-14"}, sequence=2)
    assert (await clinic.steps("a-14"))[-1] == "missed"
    assert (await clinic.state("a-14")).closed


async def test_rejected_booking_tells_the_patient_and_plans_nothing_more(clinic: Clinic) -> None:
    starts_at = await local_day(clinic, 2, time(12, 0))
    await clinic.post("appointment.requested", appointment("a-15", starts_at), sequence=1)
    await clinic.post(
        "appointment.rejected", {"appointment_id": "a-15", "reason": "врач в отпуске"}, sequence=2
    )
    assert (await clinic.steps("a-15"))[-1] == "rejected"
    state = await clinic.state("a-15")
    assert state.closed and state.planned == []


async def test_patient_who_cannot_come_gets_no_more_reminders_and_staff_are_told(clinic: Clinic) -> None:
    starts_at = await local_day(clinic, 2, time(14, 0))
    await clinic.post("appointment.confirmed", appointment("a-16", starts_at))
    await clinic.advance_to(starts_at - timedelta(hours=23), "a-16")
    await clinic.post("attendance.declined", {"appointment_id": "a-16"})
    await clinic.advance_to(starts_at, "a-16")
    rows = {row.step: row for row in await clinic.deliveries("a-16")}
    assert rows["reminder-2h-v0"].status == "skipped"
    assert rows["attendance_declined/staff-1"].status == "sent"


async def test_query_answers_state_and_planned_messages(clinic: Clinic) -> None:
    starts_at = await local_day(clinic, 3, time(14, 0))
    await clinic.post("appointment.confirmed", appointment("a-17", starts_at))
    state = await clinic.state("a-17")
    assert state.status == "confirmed"
    assert [(m.template, m.send_at) for m in state.planned] == [
        ("visit_reminder", starts_at - timedelta(hours=24)),
        ("visit_reminder", starts_at - timedelta(hours=2)),
    ]


async def test_a_settings_change_applies_to_lifecycles_that_start_afterwards(clinic: Clinic) -> None:
    starts_at = await local_day(clinic, 3, time(14, 0))
    await clinic.post("appointment.confirmed", appointment("a-18", starts_at))
    await clinic.store.put_settings(
        clinic.tenant, TenantSettings(timezone="Europe/Moscow", reminder_offsets=[timedelta(hours=5)])
    )
    await clinic.post("appointment.confirmed", appointment("a-19", starts_at))
    before = {m.send_at for m in (await clinic.state("a-18")).planned}
    after = {m.send_at for m in (await clinic.state("a-19")).planned}
    assert before == {starts_at - timedelta(hours=24), starts_at - timedelta(hours=2)}
    assert after == {starts_at - timedelta(hours=5)}


class UnsubscribedSms:
    """An SMS gateway that says this number has unsubscribed: a permanent refusal."""

    provider = "refusing-sms"

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        raise RecipientUnreachable("the number is unsubscribed")


async def test_a_message_no_channel_could_deliver_is_reported_to_staff(
    time_env: WorkflowEnvironment, store: Store, task_queue: str
) -> None:
    async with running_clinic(
        time_env, store, task_queue, adapters={Channel.SMS: UnsubscribedSms()}
    ) as clinic:
        await store.put_settings(
            clinic.tenant, TenantSettings(timezone="Europe/Moscow", staff_recipients=[STAFF])
        )
        await clinic.wait_until_local(time(12, 0))
        starts_at = await local_day(clinic, 3, time(14, 0))
        await clinic.post("appointment.confirmed", appointment("a-20", starts_at))
        rows = {row.step: row for row in await clinic.deliveries("a-20")}
        assert rows["confirmed"].status == "failed" and "unsubscribed" in (rows["confirmed"].reason or "")
        alert = rows["confirmed/failed/staff-1"]
        assert alert.status == "sent" and alert.channel == "email"
        assert "Анна Петрова" in (alert.body or "") and "unsubscribed" in (alert.body or "")


async def test_a_confirmation_takes_one_plan_and_one_send_and_a_move_still_plans_again(
    clinic: Clinic,
) -> None:
    """A new run loads its settings in its first plan and does not plan again after a send the plan
    never looked at (each local activity is a workflow activation: the burst's cost)."""
    starts_at = await local_day(clinic, 3, time(14, 0))
    await clinic.post("appointment.confirmed", appointment("a-40", starts_at), sequence=1)
    assert await clinic.steps("a-40", "sent") == ["confirmed"]
    # The patient has no open recall: the booking tells nobody, and no activity asks.
    assert await local_activities(clinic, "a-40") == ["plan_appointment", "send_message"]

    # Moved after the patient was told: the planner reads the confirmation and tells of the move.
    await clinic.advance(timedelta(hours=1), "a-40")
    await clinic.post(
        "appointment.rescheduled",
        {
            "appointment_id": "a-40",
            "starts_at": (starts_at + timedelta(days=1)).isoformat(),
            "duration_minutes": 30,
        },
        sequence=2,
    )
    assert await clinic.steps("a-40", "sent") == ["confirmed", "rescheduled-v1"]


async def test_a_reminder_is_one_send_until_a_release_changes_the_planning_code(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reminder the plan never looked up leaves the plan as it was, as long as the worker runs the
    planning code the plan was made with; after a release the lifecycle plans again at its next one."""
    starts_at = await local_day(clinic, 3, time(14, 0))
    await clinic.post("appointment.confirmed", appointment("a-41", starts_at))
    await clinic.advance_to(starts_at - timedelta(hours=23), "a-41")
    assert await clinic.steps("a-41", "sent") == ["confirmed", "reminder-24h-v0"]
    first = ["plan_appointment", "send_message", "send_message"]
    assert await local_activities(clinic, "a-41") == first

    monkeypatch.setattr(release, "current", lambda: "the next release")
    await clinic.advance_to(starts_at - timedelta(hours=1), "a-41")
    assert await clinic.steps("a-41", "sent") == ["confirmed", "reminder-24h-v0", "reminder-2h-v0"]
    assert await local_activities(clinic, "a-41") == sorted([*first, "send_message", "plan_appointment"])


async def local_activities(clinic: Clinic, ref: str) -> list[str]:
    """The local activities a run has recorded, by type, sorted."""
    history = await clinic.env.client.get_workflow_handle(clinic.workflow_id(ref)).fetch_history()
    types = []
    for history_event in history.events:
        marker = history_event.marker_recorded_event_attributes
        if marker.marker_name == "core_local_activity":
            data = json.loads(marker.details["data"].payloads[0].data)
            types.append(data["activity_type"])
    return sorted(types)
