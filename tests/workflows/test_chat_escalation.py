"""Unread chat escalation on the time-skipping server: push, then SMS, stopped by a read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from domain.settings import TenantSettings
from store import Store
from tests.factories import chat_message
from tests.workflows.harness import Clinic, running_clinic

MOSCOW = ZoneInfo("Europe/Moscow")


@pytest_asyncio.fixture
async def clinic(time_env: WorkflowEnvironment, store: Store, task_queue: str) -> AsyncIterator[Clinic]:
    async with running_clinic(time_env, store, task_queue) as clinic:
        await store.put_settings(clinic.tenant, TenantSettings(timezone="Europe/Moscow"))
        await clinic.wait_until_local(time(12, 0))
        yield clinic


async def test_read_after_the_push_and_before_the_sms_stops_the_escalation(clinic: Clinic) -> None:
    await clinic.post("chat.message_sent", chat_message("c-1", "m-1"))
    await clinic.advance(timedelta(seconds=6), "chat:c-1")
    [push] = await clinic.deliveries("chat:c-1")
    assert push.step == "push/m-1" and push.channel == "push" and push.status == "sent"
    await clinic.post("chat.message_read", chat_message("c-1", "m-1"))
    await clinic.advance(timedelta(minutes=20), "chat:c-1")
    assert await clinic.steps("chat:c-1") == ["push/m-1"]


async def test_read_before_the_first_delay_sends_nothing(clinic: Clinic) -> None:
    await clinic.post("chat.message_sent", chat_message("c-2", "m-1"))
    await clinic.advance(timedelta(seconds=2), "chat:c-2")
    await clinic.post("chat.message_read", chat_message("c-2", "m-1"))
    await clinic.advance(timedelta(minutes=20), "chat:c-2")
    assert await clinic.steps("chat:c-2") == []


async def test_five_quick_messages_make_one_escalation_naming_five_unread(clinic: Clinic) -> None:
    for n in range(1, 6):
        await clinic.post("chat.message_sent", chat_message("c-3", f"m-{n}"))
    await clinic.advance(timedelta(seconds=6), "chat:c-3")
    [push] = await clinic.deliveries("chat:c-3")
    assert push.step == "push/m-1" and "5" in (push.body or "")
    await clinic.advance(timedelta(minutes=10), "chat:c-3")
    rows = await clinic.deliveries("chat:c-3")
    assert [row.step for row in rows] == ["push/m-1", "sms/m-1"]
    assert rows[1].channel == "sms" and "5" in (rows[1].body or "")


async def test_quiet_hours_hold_the_sms_but_not_the_push(clinic: Clinic) -> None:
    night = await clinic.wait_until_local(time(23, 0))
    await clinic.post("chat.message_sent", chat_message("c-4", "m-1"))
    await clinic.advance(timedelta(minutes=15), "chat:c-4")
    assert await clinic.steps("chat:c-4") == ["push/m-1"]
    await clinic.advance(timedelta(hours=10), "chat:c-4")
    sms = (await clinic.deliveries("chat:c-4"))[-1]
    assert sms.step == "sms/m-1"
    assert sms.scheduled_for == night.replace(hour=9, minute=0) + timedelta(days=1)


async def test_a_read_of_a_later_message_reads_the_earlier_ones(clinic: Clinic) -> None:
    await clinic.post("chat.message_sent", chat_message("c-5", "m-1"))
    await clinic.post("chat.message_sent", chat_message("c-5", "m-2"))
    await clinic.post("chat.message_read", chat_message("c-5", "m-2"))
    await clinic.advance(timedelta(minutes=20), "chat:c-5")
    assert await clinic.steps("chat:c-5") == []


async def test_a_long_conversation_continues_as_new_and_keeps_escalating(clinic: Clinic) -> None:
    clinic.history_limit = 40
    for n in range(1, 16):
        # No queries meanwhile: the Java test server can hold a query aimed at a run continuing as new.
        await clinic.post("chat.message_sent", chat_message("c-6", f"m-{n}"), settle=False)
        await clinic.post("chat.message_read", chat_message("c-6", f"m-{n}"), settle=False)
    await asyncio.sleep(2)
    await clinic.post("chat.message_sent", chat_message("c-6", "m-last"))
    await clinic.advance(timedelta(seconds=6), "chat:c-6")
    assert await clinic.steps("chat:c-6") == ["push/m-last"]
    history = await clinic.env.client.get_workflow_handle(clinic.workflow_id("chat:c-6")).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.continued_execution_run_id, "the conversation continued as new"
    assert len(history.events) < 60


async def test_contact_without_a_push_token_gets_no_push_but_the_sms(clinic: Clinic) -> None:
    message = chat_message("c-7", "m-1")
    message["contact"]["push_tokens"] = []
    await clinic.post("chat.message_sent", message)
    await clinic.advance(timedelta(minutes=11), "chat:c-7")
    rows = {row.step: row for row in await clinic.deliveries("chat:c-7")}
    assert rows["push/m-1"].status == "skipped" and "push" in (rows["push/m-1"].reason or "")
    assert rows["sms/m-1"].status == "sent"
