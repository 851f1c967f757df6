"""LessonWorkflow: one per lesson, reminders to student and guardian (`lesson:{tenant}:{id}`)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.events import DomainEvent
    from domain.lesson import LessonPlan
    from workflows.inputs import LifecycleInput, LifecycleResult, LifecycleState

from workflows.lifecycle import Lifecycle


@workflow.defn
class LessonWorkflow:
    @workflow.init
    def __init__(self, input: LifecycleInput) -> None:
        self._lifecycle = Lifecycle("lesson", input, "plan_lesson", LessonPlan)

    @workflow.signal
    def event(self, event: DomainEvent) -> None:
        self._lifecycle.add(event)

    @workflow.query
    def state(self) -> LifecycleState:
        return self._lifecycle.state()

    @workflow.run
    async def run(self, input: LifecycleInput) -> LifecycleResult:
        if not await self._lifecycle.run(input.history_limit):
            workflow.continue_as_new(self._lifecycle.carry_over())
        return self._lifecycle.result()
