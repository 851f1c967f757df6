"""AppointmentWorkflow: one per appointment, from booking to feedback (`appointment:{tenant}:{id}`)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.planning import plan_appointment_activity
    from domain.appointment import AppointmentPlan
    from domain.events import DomainEvent
    from workflows.inputs import AppointmentState, DeliveryFailed, LifecycleInput, LifecycleResult

from workflows.lifecycle import Lifecycle


def workflow_id(tenant: str, appointment_id: str) -> str:
    return f"appointment:{tenant}:{appointment_id}"


@workflow.defn
class AppointmentWorkflow:
    @workflow.init
    def __init__(self, input: LifecycleInput) -> None:
        self._lifecycle = Lifecycle("appointment", input, plan_appointment_activity, AppointmentPlan)

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
        )

    @workflow.run
    async def run(self, input: LifecycleInput) -> LifecycleResult:
        if not await self._lifecycle.run(input.history_limit):
            workflow.continue_as_new(self._lifecycle.carry_over())
        return self._lifecycle.result()
