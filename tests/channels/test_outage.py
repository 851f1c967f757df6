"""A burst of reminders while the SMS gateway is down for a while: each goes exactly once, in time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.channels.clinic import clinic_with_fakes, local_day
from tests.channels.conftest import Fakes
from tests.factories import appointment, patient
from tests.workflows.harness import Clinic, skip

BURST = 8


@pytest_asyncio.fixture
async def clinic(
    time_env: WorkflowEnvironment, fakes: Fakes, task_queue: str, tmp_path: Path
) -> AsyncIterator[Clinic]:
    async with clinic_with_fakes(time_env, fakes, task_queue, tmp_path) as clinic:
        yield clinic


@pytest.mark.lasts(18)
async def test_sms_outage_during_a_burst_delivers_every_reminder_exactly_once_and_in_time(
    clinic: Clinic, fakes: Fakes
) -> None:
    starts_at = await local_day(clinic, 3, time(14, 0))
    phones = [f"+7926{n:07d}" for n in range(BURST)]
    refs = [f"b-{n}" for n in range(BURST)]
    for ref, phone in zip(refs, phones, strict=True):
        await clinic.post(
            "appointment.confirmed", appointment(ref, starts_at, patient=patient(id=ref, phone=phone))
        )
    await clinic.advance_to(starts_at - timedelta(hours=24, minutes=1), refs[0])

    fakes.smsaero.outage("server_error")
    try:
        await skip(clinic.env, timedelta(minutes=20))  # every reminder falls due and fails, retrying
    finally:
        fakes.smsaero.outage(None)
    await skip(clinic.env, timedelta(minutes=5))  # the next retries find the gateway back
    for ref in refs:
        await clinic.settle(ref)

    for ref, phone in zip(refs, phones, strict=True):
        state = await clinic.state(ref)
        [reminder] = [r for r in await clinic.deliveries(ref) if r.step.startswith("reminder-24h")]
        assert reminder.status == "sent"
        # Sent once the gateway came back, before its moment had passed (max lateness: 1 h).
        assert state.done[reminder.step].at <= reminder.scheduled_for + timedelta(hours=1)
        accepted = [r for r in fakes.smsaero.requests if r["number"] == phone[1:] and r["answer"] == "ok"]
        assert len(accepted) == 2  # the confirmation and this reminder, each exactly once
    failed = [
        r for r in fakes.smsaero.requests if r["number"] in {p[1:] for p in phones} and r["answer"] != "ok"
    ]
    assert len(failed) >= BURST
