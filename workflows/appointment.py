"""AppointmentWorkflow: one per appointment, from booking to feedback.

The workflow is a small executor: every event triggers a re-plan (a local activity, so local-time
math stays outside the sandbox and lands in history), then it sleeps until the next planned message,
sends it, and re-plans. It ends when nothing is pending and the lifecycle is over.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.models import LoadSettingsInput, PlanAppointmentInput, SendMessageInput, SendMessageResult
    from domain.appointment import AppointmentPlan, StepRecord
    from domain.events import DomainEvent
    from domain.planning import PlannedMessage
    from domain.settings import TenantSettings
    from workflows.inputs import AppointmentResult, AppointmentState, AppointmentWorkflowInput

LOCAL_TIMEOUT = timedelta(seconds=30)
SEND_ATTEMPT_TIMEOUT = timedelta(seconds=30)
SEND_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
# Retries continue a little past a message's expiry so the last attempt records it as skipped.
EXPIRY_MARGIN = timedelta(minutes=2)
UNBOUNDED_SEND = timedelta(days=1)


def workflow_id(tenant: str, appointment_id: str) -> str:
    return f"appointment:{tenant}:{appointment_id}"


@workflow.defn
class AppointmentWorkflow:
    @workflow.init
    def __init__(self, input: AppointmentWorkflowInput) -> None:
        self._input = input
        self._events: list[DomainEvent] = list(input.events)
        self._seen: set[str] = {event.id for event in self._events}
        self._done: dict[str, StepRecord] = dict(input.done)
        self._settings: TenantSettings | None = input.settings
        self._plan: AppointmentPlan | None = None
        self._dirty = True
        self._closed = False

    @workflow.signal
    def event(self, event: DomainEvent) -> None:
        # The API dedupes too; this catches a redelivery that raced it.
        if event.id in self._seen:
            return
        self._seen.add(event.id)
        self._events.append(event)
        self._dirty = True

    @workflow.query
    def state(self) -> AppointmentState:
        plan = self._plan
        return AppointmentState(
            status=plan.view.status.value if plan else "starting",
            view=plan.view if plan else None,
            planned=self._pending(),
            done=self._done,
            events=len(self._events),
            closed=self._closed,
        )

    @workflow.run
    async def run(self, input: AppointmentWorkflowInput) -> AppointmentResult:
        if self._settings is None:
            self._settings = await workflow.execute_local_activity(
                "load_settings",
                LoadSettingsInput(tenant=input.tenant),
                result_type=TenantSettings,
                start_to_close_timeout=LOCAL_TIMEOUT,
            )
        # Signal-with-start always brings the first event; a bare start waits a while for one.
        if not await self._first_event():
            return AppointmentResult(status="no_events")
        while True:
            if self._dirty or self._plan is None:
                await self._replan()
            assert self._plan is not None
            now = workflow.now()
            due = [message for message in self._pending() if message.send_at <= now]
            if due:
                for message in due:
                    if self._dirty:
                        break  # an event changed the plan while we were sending
                    await self._send(message)
                self._dirty = True
                continue
            wake_at = min([m.send_at for m in self._pending()] + [self._plan.close_at])
            if wake_at <= now:
                break
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carry_over(input))
            try:
                await workflow.wait_condition(
                    lambda: self._dirty, timeout=wake_at - now, timeout_summary="next message"
                )
            except TimeoutError:
                pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._closed = True
        statuses = [record.status for record in self._done.values()]
        return AppointmentResult(
            status=self._plan.view.status.value,
            sent=statuses.count("sent"),
            skipped=statuses.count("skipped"),
            failed=statuses.count("failed"),
        )

    async def _first_event(self) -> bool:
        try:
            await workflow.wait_condition(lambda: bool(self._events), timeout=timedelta(days=1))
        except TimeoutError:
            return False
        return True

    def _pending(self) -> list[PlannedMessage]:
        if self._plan is None:
            return []
        return [message for message in self._plan.messages if message.step not in self._done]

    async def _replan(self) -> None:
        assert self._settings is not None
        self._dirty = False
        self._plan = await workflow.execute_local_activity(
            "plan_appointment",
            PlanAppointmentInput(events=self._events, settings=self._settings, done=self._done),
            result_type=AppointmentPlan,
            start_to_close_timeout=LOCAL_TIMEOUT,
        )

    async def _send(self, message: PlannedMessage) -> None:
        assert self._plan is not None and self._settings is not None
        now = workflow.now()
        if message.expires_at is not None:
            budget = max(message.expires_at - now, timedelta(0)) + EXPIRY_MARGIN
        else:
            budget = UNBOUNDED_SEND
        info = workflow.info()
        try:
            result = await workflow.execute_activity(
                "send_message",
                SendMessageInput(
                    tenant=self._input.tenant,
                    workflow_id=info.workflow_id,
                    subject=f"appointment:{self._input.appointment_id}",
                    message=message,
                    appointment=self._plan.view.details,
                    default_locale=self._settings.default_locale,
                    channel_costs=self._settings.channel_costs,
                ),
                result_type=SendMessageResult,
                start_to_close_timeout=SEND_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=budget,
                retry_policy=SEND_RETRY,
                summary=message.step,
            )
            status = result.status
        except ActivityError:
            workflow.logger.warning("send of %s failed after all retries", message.step)
            status = "failed"
        self._done[message.step] = StepRecord(at=workflow.now(), status=status)

    def _carry_over(self, input: AppointmentWorkflowInput) -> AppointmentWorkflowInput:
        return AppointmentWorkflowInput(
            tenant=input.tenant,
            appointment_id=input.appointment_id,
            events=self._events,
            done=self._done,
            settings=self._settings,
        )
