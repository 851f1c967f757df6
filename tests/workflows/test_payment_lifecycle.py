"""Payment nudges on the time-skipping server: until paid, never after, then a manager."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from channels import OutgoingMessage, ProviderUnavailable, SendReceipt
from domain.contacts import Channel, Contact
from domain.settings import TenantSettings
from store import Store
from tests.factories import balance, invoice
from tests.workflows.harness import Clinic, running_clinic, skip

MOSCOW = ZoneInfo("Europe/Moscow")
MANAGER = Contact(
    id="manager-1", name="Менеджер", locale="ru", timezone="Europe/Moscow", email="m@school.example"
)


class GatedSms:
    """An SMS provider that is down until the test opens it: a send stays in flight meanwhile."""

    provider = "gated-sms"

    def __init__(self) -> None:
        self.open = False
        self.attempts = 0

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        self.attempts += 1
        if not self.open:
            raise ProviderUnavailable("gateway down", retry_after=timedelta(seconds=2))
        return SendReceipt(provider=self.provider, provider_message_id=f"gated-{self.attempts}")


@pytest_asyncio.fixture
async def school(time_env: WorkflowEnvironment, store: Store, task_queue: str) -> AsyncIterator[Clinic]:
    async with running_clinic(time_env, store, task_queue) as school:
        await store.put_settings(
            school.tenant, TenantSettings(timezone="Europe/Moscow", staff_recipients=[MANAGER])
        )
        await school.wait_until_local(time(12, 0))
        yield school


async def test_paid_between_the_second_and_third_nudge_stops_at_once(school: Clinic) -> None:
    due = (await school.now()) + timedelta(days=1)
    await school.post("invoice.issued", invoice("i-1", due), sequence=1)
    await school.advance_to(due + timedelta(days=3, hours=1), "invoice:i-1")
    assert await school.steps("invoice:i-1", "sent") == ["nudge-1-s1", "nudge-2-s1"]
    await school.post("invoice.paid", invoice("i-1", due), sequence=2)
    await school.advance(timedelta(days=10), "invoice:i-1")
    assert await school.steps("invoice:i-1") == ["nudge-1-s1", "nudge-2-s1"]
    assert (await school.state("invoice:i-1")).closed
    body = (await school.deliveries("invoice:i-1"))[0].body or ""
    assert "https://pay.example/i/1" in body and "4" in body


async def test_after_the_last_nudge_a_manager_is_alerted(school: Clinic) -> None:
    due = (await school.now()) + timedelta(hours=1)
    await school.post("invoice.issued", invoice("i-2", due))
    await school.advance(timedelta(days=9), "invoice:i-2")
    steps = await school.steps("invoice:i-2", "sent")
    assert steps == ["nudge-1-s1", "nudge-2-s1", "nudge-3-s1", "escalate-s1/manager-1"]
    rows = await school.deliveries("invoice:i-2")
    assert all(row.scheduled_for.astimezone(MOSCOW).time() >= time(9, 0) for row in rows)


async def test_a_second_balance_low_does_not_start_a_second_series(school: Clinic) -> None:
    await school.post("balance.low", balance("acc-1", lessons_left=2), sequence=1)
    await school.advance(timedelta(hours=2), "balance:acc-1")
    await school.post("balance.low", balance("acc-1", lessons_left=1), sequence=2)
    await school.advance(timedelta(days=4), "balance:acc-1")
    assert await school.steps("balance:acc-1") == ["nudge-1-s1", "nudge-2-s1"]
    await school.post("balance.topped_up", balance("acc-1", lessons_left=10), sequence=3)
    await school.advance(timedelta(days=5), "balance:acc-1")
    assert await school.steps("balance:acc-1") == ["nudge-1-s1", "nudge-2-s1"]


async def test_paid_while_the_nudge_is_in_flight_is_never_nudged(
    time_env: WorkflowEnvironment, store: Store, task_queue: str
) -> None:
    sms = GatedSms()
    async with running_clinic(time_env, store, task_queue, adapters={Channel.SMS: sms}) as school:
        await store.put_settings(school.tenant, TenantSettings(timezone="Europe/Moscow"))
        await school.wait_until_local(time(12, 0))
        due = (await school.now()) + timedelta(minutes=1)
        await school.post("invoice.issued", invoice("i-3", due), sequence=1)
        await skip(time_env, timedelta(minutes=1, seconds=1))
        while sms.attempts == 0:  # the nudge's activity has started and hit the gateway
            await skip(time_env, timedelta(milliseconds=200))
        await school.post("invoice.paid", invoice("i-3", due), sequence=2, settle=False)
        sms.open = True
        await school.advance(timedelta(minutes=5), "invoice:i-3")
        [nudge] = await school.deliveries("invoice:i-3")
        assert nudge.status == "skipped" and "no longer wanted" in (nudge.reason or "")
        assert sms.attempts == 1
