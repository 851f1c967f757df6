"""RecallWorkflow: a patient's recall, for months (`recall:{tenant}:{patient_id}:{recall_type}`).

The generic lifecycle loop with the recall planner (domain/recall.py): one durable timer to the next
invitation, however far off. While it runs, the register of open recalls (store/recalls.py) names
it, so a booking of the patient finds it (activities/recall.py).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.planning import Planning
    from activities.recall import MarkRecallInput, RecallActivities
    from domain.events import DomainEvent
    from domain.recall import RecallPlan
    from workflows.inputs import DeliveryFailed, LifecycleInput, LifecycleResult, LifecycleState

from workflows.lifecycle import Lifecycle

REGISTER_TIMEOUT = timedelta(seconds=30)


@workflow.defn
class RecallWorkflow:
    @workflow.init
    def __init__(self, input: LifecycleInput) -> None:
        self._lifecycle = Lifecycle("recall", input, Planning.plan_recall, RecallPlan)

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
        await self._register(input, open=True)
        if not await self._lifecycle.run(input.history_limit):
            workflow.continue_as_new(self._lifecycle.carry_over())
        await self._register(input, open=False)
        return self._lifecycle.result()

    async def _register(self, input: LifecycleInput, *, open: bool) -> None:
        patient_id, _, recall_type = input.aggregate_id.rpartition(":")
        await workflow.execute_local_activity_method(
            RecallActivities.mark_recall,
            MarkRecallInput(tenant=input.tenant, patient_id=patient_id, recall_type=recall_type, open=open),
            start_to_close_timeout=REGISTER_TIMEOUT,
        )
