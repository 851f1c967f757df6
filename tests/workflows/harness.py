"""A tenant on the time-skipping server: post events, let time pass, read the delivery log."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from channels import ChannelAdapter
from domain.contacts import Channel
from domain.deliveries import Delivery
from domain.events import EVENT_DATA, DomainEvent
from store import Store
from tests.factories import event
from worker import build_worker
from workflows.inputs import AppointmentState, LifecycleState
from workflows.routes import route, signal_with_start


def subject_of(ref: str) -> str:
    """`a-1` is an appointment; other lifecycles are named `kind:id` (`lesson:l-1`, `chat:c-1`)."""
    return ref if ":" in ref else f"appointment:{ref}"


# The SDK's `env.sleep` is one call under the client's 30 s deadline. While an activity runs, the
# test server's clock cannot skip, so a long skip over a burst of retries takes real time, and on a
# slow machine it outlasted the deadline ("Timeout expired", a CI run of 2026-12-03); every later
# test on that process then failed on the same server. The clock is skipped here with a deadline
# that only a hang reaches.
SKIP_DEADLINE = timedelta(minutes=2)


async def skip(env: WorkflowEnvironment, duration: timedelta) -> None:
    """Unlock the time-skipping clock until `duration` of its time has passed (WorkflowEnvironment.sleep)."""
    request = SleepRequest()
    request.duration.FromTimedelta(duration)
    await env.client.test_service.unlock_time_skipping_with_sleep(request, timeout=SKIP_DEADLINE)


class Clinic:
    def __init__(self, env: WorkflowEnvironment, store: Store, task_queue: str) -> None:
        self.env, self.store, self.task_queue = env, store, task_queue
        self.started: set[str] = set()
        # A tenant of its own per test: workflow ids never collide on the shared test server.
        self.tenant = f"clinic-{uuid.uuid4().hex[:8]}"
        self.history_limit: int | None = None

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    def workflow_id(self, ref: str) -> str:
        kind, _, aggregate_id = subject_of(ref).partition(":")
        return f"{kind}:{self.tenant}:{aggregate_id}"

    async def post(
        self,
        type: str,
        data: dict[str, Any],
        *,
        sequence: int | None = None,
        event_id: str | None = None,
        settle: bool = True,
    ) -> DomainEvent:
        domain_event = event(
            type, data, received_at=await self.now(), sequence=sequence, event_id=event_id, tenant=self.tenant
        )
        target = route(self.tenant, type, EVENT_DATA[type].model_validate(data))
        assert target is not None
        if self.history_limit is not None:
            target.input.history_limit = self.history_limit
        await signal_with_start(self.env.client, self.task_queue, target, [domain_event])
        self.started.add(target.workflow_id)
        if settle:
            await self.settle(f"{target.kind}:{target.aggregate_id}")
        return domain_event

    async def wait_until_local(self, at: time, tz: str = "Europe/Moscow") -> datetime:
        """Skip the clock to the next `at` local time, so a test knows where quiet hours fall."""
        now = await self.now()
        local = now.astimezone(ZoneInfo(tz))
        target = datetime.combine(local.date(), at, tzinfo=ZoneInfo(tz))
        if target <= local:
            target += timedelta(days=1)
        await skip(self.env, target - now)
        return target

    async def state(self, ref: str) -> AppointmentState:
        handle = self.env.client.get_workflow_handle(self.workflow_id(ref))
        result_type = AppointmentState if subject_of(ref).startswith("appointment:") else LifecycleState
        # A short deadline: the test server may hold a query that lands on a run just continued-as-new.
        state = await handle.query("state", result_type=result_type, rpc_timeout=timedelta(seconds=2))
        return AppointmentState.model_validate(state.model_dump())

    async def settle(self, ref: str, patience: float = 20.0) -> AppointmentState:
        """Wait in real time (no skipping) until every event is applied and what is due is sent."""
        deadline = asyncio.get_running_loop().time() + patience
        handle = self.env.client.get_workflow_handle(self.workflow_id(ref))
        while True:
            try:
                state = await self.state(ref)
            except RPCError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                continue
            now = await self.now()
            due = [m for m in state.planned if m.send_at <= now]
            if state.status != "starting" and not due and state.events > 0 and not state.busy:
                desc = await handle.describe()
                if not desc.raw_description.pending_activities:
                    return state
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"workflow did not settle: {state}")
            await asyncio.sleep(0.05)

    async def advance(self, delta: timedelta, ref: str) -> None:
        await skip(self.env, delta)
        await self.settle(ref)

    async def advance_to(self, moment: datetime, ref: str) -> None:
        delta = moment - await self.now()
        if delta > timedelta(0):
            await self.advance(delta, ref)

    async def stop_all(self) -> None:
        """Terminate this test's workflows: the time-skipping clock is shared, and a workflow
        whose worker is gone would hold it still for every later test."""
        for wf_id in self.started:
            handle = self.env.client.get_workflow_handle(wf_id)
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test finished")

    async def deliveries(self, ref: str) -> list[Delivery]:
        rows = await self.store.list_deliveries(self.tenant, subject=subject_of(ref), limit=1000)
        return sorted(rows, key=lambda row: (row.scheduled_for, row.id))

    async def steps(self, ref: str, status: str | None = None) -> list[str]:
        return [row.step for row in await self.deliveries(ref) if status in (None, row.status.value)]


@asynccontextmanager
async def running_clinic(
    env: WorkflowEnvironment,
    store: Store,
    task_queue: str,
    adapters: Mapping[Channel, ChannelAdapter] | None = None,
    **worker_options: Any,
) -> AsyncIterator[Clinic]:
    clinic = Clinic(env, store, task_queue)
    await store.ensure_tenant(clinic.tenant, "Test clinic", f"key-{clinic.tenant}")
    # A bug in a workflow fails its test at once, instead of a workflow task retrying until a timeout.
    worker = build_worker(
        env.client,
        store,
        task_queue,
        adapters=adapters,
        workflow_failure_exception_types=[Exception],
        **worker_options,
    )
    async with worker:
        try:
            yield clinic
        finally:
            await clinic.stop_all()
