"""ChatEscalationWorkflow: one per conversation; unread → push → SMS (`chat:{tenant}:{conversation_id}`)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.planning import Planning
    from domain import chat
    from domain.events import DomainEvent
    from workflows.inputs import DeliveryFailed, LifecycleInput, LifecycleResult, LifecycleState

from workflows.lifecycle import Lifecycle


@workflow.defn
class ChatEscalationWorkflow:
    @workflow.init
    def __init__(self, input: LifecycleInput) -> None:
        self._lifecycle = Lifecycle("chat", input, Planning.plan_chat, chat.ChatPlan)
        # A read may arrive between the timer and the provider call: the send asks first.
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
        return self._lifecycle.wanted(step) and chat.wanted(self._lifecycle.events, step)

    @workflow.run
    async def run(self, input: LifecycleInput) -> LifecycleResult:
        if not await self._lifecycle.run(input.history_limit):
            # A long conversation starts a fresh history holding only what is still unread.
            lifecycle = self._lifecycle
            events = chat.compact(lifecycle.events)
            workflow.continue_as_new(lifecycle.carry_over(events, chat.compact_done(events, lifecycle.done)))
        return self._lifecycle.result()
