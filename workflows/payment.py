"""PaymentWorkflow: nudges until paid (`invoice:{tenant}:{id}` and `balance:{tenant}:{account_id}`)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.planning import Planning
    from domain import payment
    from domain.events import DomainEvent
    from workflows.inputs import DeliveryFailed, LifecycleInput, LifecycleResult, LifecycleState

from workflows.lifecycle import Lifecycle


@workflow.defn
class PaymentWorkflow:
    @workflow.init
    def __init__(self, input: LifecycleInput) -> None:
        kind = "invoice" if input.kind == "invoice" else "balance"
        self._lifecycle = Lifecycle(kind, input, Planning.plan_payment, payment.PaymentPlan)
        # A payment may arrive between the timer and the provider call: the send asks first.
        self._lifecycle.guarded = True

    @workflow.signal
    def event(self, event: DomainEvent) -> None:
        self._lifecycle.add(event)

    @workflow.signal
    def delivery_failed(self, notice: DeliveryFailed) -> None:
        self._lifecycle.delivery_failed(notice)

    @workflow.query
    def state(self) -> LifecycleState:
        return self._lifecycle.state()

    @workflow.query
    def wanted(self, step: str) -> bool:
        return self._lifecycle.wanted(step) and not payment.stopped(self._lifecycle.events)

    @workflow.run
    async def run(self, input: LifecycleInput) -> LifecycleResult:
        if not await self._lifecycle.run(input.history_limit):
            workflow.continue_as_new(self._lifecycle.carry_over())
        return self._lifecycle.result()
