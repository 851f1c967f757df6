"""Lessons on the time-skipping server: reminders to student and guardian, moves, trial feedback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from domain.settings import TenantSettings
from store import Store
from tests.factories import lesson
from tests.workflows.harness import Clinic, running_clinic

MOSCOW = ZoneInfo("Europe/Moscow")


@pytest_asyncio.fixture
async def school(time_env: WorkflowEnvironment, store: Store, task_queue: str) -> AsyncIterator[Clinic]:
    async with running_clinic(time_env, store, task_queue) as school:
        await store.put_settings(school.tenant, TenantSettings(timezone="Europe/Moscow"))
        await school.wait_until_local(time(12, 0))
        yield school


async def day(school: Clinic, days: int, at: time) -> datetime:
    today = (await school.now()).astimezone(MOSCOW).date()
    return datetime.combine(today + timedelta(days=days), at, tzinfo=MOSCOW)


async def test_guardian_in_another_timezone_is_reminded_in_their_own_hours_and_clock(school: Clinic) -> None:
    starts_at = await day(school, 3, time(9, 30))  # 13:30 in Novosibirsk
    await school.post("lesson.scheduled", lesson("l-1", starts_at))
    await school.advance_to(starts_at - timedelta(minutes=10), "lesson:l-1")
    rows = {row.step: row for row in await school.deliveries("lesson:l-1")}
    # 2 h before is 07:30 in Moscow (quiet until 09:00) but 11:30 in Novosibirsk.
    assert rows["reminder-2h-v0/student"].scheduled_for == starts_at.replace(hour=9, minute=0)
    assert rows["reminder-2h-v0/guardian"].scheduled_for == starts_at - timedelta(hours=2)
    assert "9:30" in (rows["reminder-2h-v0/student"].body or "")
    assert "13:30" in (rows["reminder-2h-v0/guardian"].body or "")
    assert "https://school.example/join/abc" in (rows["reminder-24h-v0/guardian"].body or "")


async def test_a_lesson_moved_twice_is_reminded_only_at_its_final_time(school: Clinic) -> None:
    starts_at = await day(school, 2, time(15, 0))
    await school.post("lesson.scheduled", lesson("l-2", starts_at), sequence=1)
    first_move = starts_at + timedelta(days=1)
    second_move = starts_at + timedelta(days=2, hours=1)
    await school.post(
        "lesson.rescheduled", {"lesson_id": "l-2", "starts_at": first_move.isoformat()}, sequence=2
    )
    await school.advance(timedelta(hours=1), "lesson:l-2")
    await school.post(
        "lesson.rescheduled", {"lesson_id": "l-2", "starts_at": second_move.isoformat()}, sequence=3
    )
    await school.advance_to(second_move, "lesson:l-2")
    steps = await school.steps("lesson:l-2", "sent")
    assert {"rescheduled-v1/student", "rescheduled-v2/student", "rescheduled-v2/guardian"} <= set(steps)
    reminders = [row for row in await school.deliveries("lesson:l-2") if row.step.startswith("reminder")]
    assert {row.step for row in reminders} == {
        "reminder-24h-v2/student",
        "reminder-2h-v2/student",
        "reminder-24h-v2/guardian",
        "reminder-2h-v2/guardian",
    }
    assert all(row.scheduled_for > first_move for row in reminders)


async def test_trial_lesson_asks_the_guardian_for_feedback_once_more_then_stops(school: Clinic) -> None:
    starts_at = await day(school, 1, time(15, 0))
    await school.post("lesson.scheduled", lesson("l-3", starts_at, trial=True), sequence=1)
    await school.advance_to(starts_at + timedelta(hours=1), "lesson:l-3")
    await school.post("lesson.completed", {"lesson_id": "l-3"}, sequence=2)
    await school.advance(timedelta(days=3), "lesson:l-3")
    feedback = [row for row in await school.deliveries("lesson:l-3") if row.step.startswith("feedback")]
    assert [(row.step, row.contact_id) for row in feedback] == [
        ("feedback_request", "guardian-1"),
        ("feedback_followup", "guardian-1"),
    ]


async def test_cancelled_lesson_tells_both_and_sends_no_more_reminders(school: Clinic) -> None:
    starts_at = await day(school, 2, time(15, 0))
    await school.post("lesson.scheduled", lesson("l-4", starts_at), sequence=1)
    await school.post("lesson.cancelled", {"lesson_id": "l-4", "reason": "учитель заболел"}, sequence=2)
    await school.advance_to(starts_at, "lesson:l-4")
    assert sorted(await school.steps("lesson:l-4")) == ["cancelled/guardian", "cancelled/student"]
    assert (await school.state("lesson:l-4")).closed
