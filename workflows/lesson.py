"""LessonWorkflow: one per lesson, reminders to student and guardian (`lesson:{tenant}:{id}`)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.planning import Planning
    from domain.events import DomainEvent
    from domain.lesson import LessonPlan
    from workflows.inputs import DeliveryFailed, LifecycleInput, LifecycleResult, LifecycleState

from workflows.lifecycle import Lifecycle


@workflow.defn
class LessonWorkflow:
    @workflow.init
    def __init__(self, input: LifecycleInput) -> None:
        self._lifecycle = Lifecycle("lesson", input, Planning.plan_lesson, LessonPlan)

    @workflow.signal
    def event(self, event: DomainEvent) -> None:
        self._lifecycle.add(event)

    @workflow.signal
    def delivery_failed(self, notice: DeliveryFailed) -> None:
        self._lifecycle.delivery_failed(notice)

    @workflow.query
    def state(self) -> LifecycleState:
        return self._lifecycle.state()

    @workflow.run
    async def run(self, input: LifecycleInput) -> LifecycleResult:
        if not await self._lifecycle.run(input.history_limit):
            workflow.continue_as_new(self._lifecycle.carry_over())
        return self._lifecycle.result()
