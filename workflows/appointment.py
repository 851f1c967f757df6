"""AppointmentWorkflow: one per appointment, from booking to feedback (`appointment:{tenant}:{id}`)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.planning import Planning
    from activities.recall import RecallActivities, RecallNotice
    from domain.appointment import CLOSED, AppointmentPlan, AppointmentStatus, AppointmentView
    from domain.events import DomainEvent
    from workflows.inputs import AppointmentState, DeliveryFailed, LifecycleInput, LifecycleResult

from workflows.lifecycle import Lifecycle

# Runs started since this patch tell the patient's recalls of bookings, visits and cancellations.
RECALL_PATCH = "appointment-tells-recalls"
# Runs started since this patch tell a booking or its end only when their plan found the patient's
# recalls open (`AppointmentPlan.open_recalls`); a completed visit is always told (it may start one).
OPEN_RECALLS_PATCH = "appointment-tells-open-recalls-only"
TELL_TIMEOUT = timedelta(seconds=30)
BOOKED = frozenset({AppointmentStatus.PENDING, AppointmentStatus.CONFIRMED})


def workflow_id(tenant: str, appointment_id: str) -> str:
    return f"appointment:{tenant}:{appointment_id}"


@workflow.defn
class AppointmentWorkflow:
    @workflow.init
    def __init__(self, input: LifecycleInput) -> None:
        self._lifecycle = Lifecycle("appointment", input, Planning.plan_appointment, AppointmentPlan)
        self._told: tuple[str, int] | None = None
        self._ending = False
        self._only_open = False

    @workflow.signal
    def event(self, event: DomainEvent) -> None:
        self._lifecycle.add(event)

    @workflow.signal
    def delivery_failed(self, notice: DeliveryFailed) -> None:
        self._lifecycle.delivery_failed(notice)

    @workflow.query
    def state(self) -> AppointmentState:
        lifecycle = self._lifecycle
        plan: AppointmentPlan | None = lifecycle.plan
        return AppointmentState(
            status=lifecycle.status,
            view=plan.view if plan else None,
            planned=lifecycle.pending(),
            done=lifecycle.done,
            events=len(lifecycle.events),
            closed=lifecycle.closed,
            busy=lifecycle.busy,
        )

    @workflow.run
    async def run(self, input: LifecycleInput) -> LifecycleResult:
        recalls = None
        if workflow.patched(RECALL_PATCH):
            self._only_open = workflow.patched(OPEN_RECALLS_PATCH)
            recalls = asyncio.create_task(self._tell_recalls())
        finished = await self._lifecycle.run(input.history_limit)
        if recalls is not None:
            self._ending = True
            await recalls  # the last change is told before the run ends
        if not finished:
            workflow.continue_as_new(self._lifecycle.carry_over())
        return self._lifecycle.result()

    def _recall_notice(self) -> RecallNotice | None:
        """What the patient's recalls must hear now: booked, completed or ended (None: nothing yet)."""
        plan: AppointmentPlan | None = self._lifecycle.plan
        view: AppointmentView | None = plan.view if plan else None
        if view is None or view.details is None or view.status_at is None:
            return None
        if view.status in BOOKED:
            state = "booked"
        elif view.status is AppointmentStatus.COMPLETED:
            state = "completed"
        elif view.status in CLOSED:
            state = "ended"
        else:
            return None
        details = view.details
        return RecallNotice(
            tenant=self._lifecycle.input.tenant,
            appointment_id=details.appointment_id,
            state=state,
            patient=details.patient,
            service_code=details.service.code,
            starts_at=details.starts_at,
            at=view.status_at,
            schedule_version=view.schedule_version,
        )

    async def _tell_recalls(self) -> None:
        """Each change of the appointment's state or time, told once (a recall dedupes a retold one)."""
        while True:
            await workflow.wait_condition(lambda: self._ending or self._untold() is not None)
            notice = self._untold()
            if notice is None:
                return  # ending, and all told
            self._told = (notice.state, notice.schedule_version)
            if self._only_open and self._tells_nobody(notice):
                continue
            await workflow.execute_local_activity_method(
                RecallActivities.tell_recalls, notice, start_to_close_timeout=TELL_TIMEOUT
            )

    def _tells_nobody(self, notice: RecallNotice) -> bool:
        """A booking or an end when the plan that saw it found no open recall: no one to hold or
        release. A completed visit may start a recall under the tenant's current rules: always told."""
        plan: AppointmentPlan | None = self._lifecycle.plan
        return notice.state != "completed" and plan is not None and plan.open_recalls == []

    def _untold(self) -> RecallNotice | None:
        notice = self._recall_notice()
        if notice is None or (notice.state, notice.schedule_version) == self._told:
            return None
        return notice
