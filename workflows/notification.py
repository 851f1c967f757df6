"""NotificationWorkflow: a one-off message, now or at `send_at` (`notification:{tenant}:{id}`)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.planning import Planning
    from domain import notification
    from domain.events import DomainEvent
    from workflows.inputs import DeliveryFailed, LifecycleInput, LifecycleResult, LifecycleState

from workflows.lifecycle import Lifecycle


@workflow.defn
class NotificationWorkflow:
    @workflow.init
    def __init__(self, input: LifecycleInput) -> None:
        self._lifecycle = Lifecycle(
            "notification", input, Planning.plan_notification, notification.NotificationPlan
        )

    @workflow.signal
    def event(self, event: DomainEvent) -> None:
        # A second request for the same id lands here and plans nothing new (domain/notification.py).
        self._lifecycle.add(event)

    @workflow.signal
    def delivery_failed(self, notice: DeliveryFailed) -> None:
        self._lifecycle.delivery_failed(notice)

    @workflow.query
    def state(self) -> LifecycleState:
        return self._lifecycle.state()

    @workflow.query
    def wanted(self, step: str) -> bool:
        return self._lifecycle.wanted(step)

    @workflow.run
    async def run(self, input: LifecycleInput) -> LifecycleResult:
        if not await self._lifecycle.run(input.history_limit):
            workflow.continue_as_new(self._lifecycle.carry_over())
        return self._lifecycle.result()
