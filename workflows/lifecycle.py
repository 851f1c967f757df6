"""The loop every lifecycle workflow runs: re-plan on each event, sleep to the next message, send, end.

Planning is a local activity (its result lands in history, so local-time math never runs in the
sandbox). Sending is recorded under `{workflow_id}/{step}` and tried first as a local activity:
one attempt inside the workflow task that woke for it, no round trip through the server's activity
queue. Only when that attempt fails (a provider outage, a timeout) does a regular activity take
over, whose retries can wait out the outage and ask the workflow before each provider call whether
the message is still wanted. A workflow class owns the signal, the query and the run method and
hands the rest to `Lifecycle`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from activities.models import LoadSettingsInput, PlanInput, SendMessageInput, SendMessageResult
    from domain.events import DomainEvent
    from domain.planning import MessageFacts, PlannedMessage, StepRecord
    from domain.settings import TenantSettings
    from workflows.inputs import LifecycleInput, LifecycleResult, LifecycleState

LOCAL_TIMEOUT = timedelta(seconds=30)
SEND_ATTEMPT_TIMEOUT = timedelta(seconds=15)
SEND_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
# The first attempt of every send runs as a local activity (see the module docstring). Histories
# recorded before this patch replay their regular-activity sends unchanged.
LOCAL_SEND_PATCH = "send-first-as-local-activity"
ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)
# Retries continue a little past a message's expiry so the last attempt records it as skipped.
EXPIRY_MARGIN = timedelta(minutes=2)
UNBOUNDED_SEND = timedelta(days=1)
FIRST_EVENT_WAIT = timedelta(days=1)


class Plan(Protocol):
    messages: list[PlannedMessage]
    close_at: Any

    @property
    def status(self) -> str: ...

    def send_fields(self) -> dict[str, Any]: ...


class Lifecycle:
    """Events in, planned messages out; the state a workflow carries across continue-as-new."""

    def __init__(self, kind: str, input: LifecycleInput, plan_activity: str, plan_type: type[Any]) -> None:
        self.kind, self.input = kind, input
        self.plan_activity, self.plan_type = plan_activity, plan_type
        self.events: list[DomainEvent] = list(input.events)
        self.seen: set[str] = {event.id for event in self.events}
        self.done: dict[str, StepRecord] = dict(input.done)
        self.settings: TenantSettings | None = input.settings
        self.plan: Any = None
        self.dirty = True
        self.closed = False
        # Set by a workflow to ask the executing activity whether a message is still wanted.
        self.guarded = False

    def add(self, event: DomainEvent) -> None:
        # The API dedupes too; this catches a redelivery that raced it.
        if event.id in self.seen:
            return
        self.seen.add(event.id)
        self.events.append(event)
        self.dirty = True

    @property
    def status(self) -> str:
        return str(self.plan.status) if self.plan is not None else "starting"

    def pending(self) -> list[PlannedMessage]:
        if self.plan is None:
            return []
        return [message for message in self.plan.messages if message.step not in self.done]

    def wanted(self, step: str) -> bool:
        """Whether a message is still planned now: a payment or a read may have cancelled it."""
        return any(message.step == step for message in self.pending())

    async def run(self, history_limit: int | None = None) -> bool:
        """Until the lifecycle ends (True) or its history should start afresh (False)."""
        if self.settings is None:
            self.settings = await workflow.execute_local_activity(
                "load_settings",
                LoadSettingsInput(tenant=self.input.tenant),
                result_type=TenantSettings,
                start_to_close_timeout=LOCAL_TIMEOUT,
            )
        # Signal-with-start always brings the first event; a bare start waits a while for one.
        try:
            await workflow.wait_condition(lambda: bool(self.events), timeout=FIRST_EVENT_WAIT)
        except TimeoutError:
            return True
        while True:
            if self.dirty or self.plan is None:
                await self._replan()
            now = workflow.now()
            due = [message for message in self.pending() if message.send_at <= now]
            if due:
                for message in due:
                    if self.dirty:
                        break  # an event changed the plan while we were sending
                    await self._send(message)
                self.dirty = True
                continue
            wake_at = min([m.send_at for m in self.pending()] + [self.plan.close_at])
            if wake_at <= now:
                break
            if workflow.info().is_continue_as_new_suggested() or (
                history_limit is not None and workflow.info().get_current_history_length() > history_limit
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                return False
            try:
                await workflow.wait_condition(
                    lambda: self.dirty, timeout=wake_at - now, timeout_summary="next message"
                )
            except TimeoutError:
                pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        self.closed = True
        return True

    def state(self) -> LifecycleState:
        view = getattr(self.plan, "view", None)
        return LifecycleState(
            status=self.status,
            planned=self.pending(),
            done=self.done,
            events=len(self.events),
            closed=self.closed,
            summary=view.model_dump(mode="json") if view is not None else {},
        )

    def result(self) -> LifecycleResult:
        statuses = [record.status for record in self.done.values()]
        return LifecycleResult(
            status=self.status,
            sent=statuses.count("sent"),
            skipped=statuses.count("skipped"),
            failed=statuses.count("failed"),
        )

    async def _replan(self) -> None:
        assert self.settings is not None
        self.dirty = False
        self.plan = await workflow.execute_local_activity(
            self.plan_activity,
            PlanInput(events=self.events, settings=self.settings, done=self.done),
            result_type=self.plan_type,
            start_to_close_timeout=LOCAL_TIMEOUT,
        )

    async def _send(self, message: PlannedMessage) -> None:
        assert self.settings is not None
        input = SendMessageInput(
            tenant=self.input.tenant,
            workflow_id=workflow.info().workflow_id,
            subject=f"{self.kind}:{self.input.aggregate_id}",
            message=message,
            default_locale=self.settings.default_locale,
            channel_costs=self.settings.channel_costs,
            guarded=self.guarded,
            **self.plan.send_fields(),
        )
        result = await self._send_locally(input) if workflow.patched(LOCAL_SEND_PATCH) else None
        try:
            if result is None:
                result = await workflow.execute_activity(
                    "send_message",
                    input,
                    result_type=SendMessageResult,
                    start_to_close_timeout=SEND_ATTEMPT_TIMEOUT,
                    schedule_to_close_timeout=self._send_budget(message),
                    retry_policy=SEND_RETRY,
                    summary=message.step,
                )
            status, reason = result.status, result.reason or ""
        except ActivityError:
            workflow.logger.warning("send of %s failed after all retries", message.step)
            status, reason = "failed", "every retry failed"
        self.done[message.step] = StepRecord(at=workflow.now(), status=status)
        if status == "failed" and message.audience != "staff":
            await self._alert_staff(message, reason)

    @staticmethod
    def _send_budget(message: PlannedMessage) -> timedelta:
        if message.expires_at is None:
            return UNBOUNDED_SEND
        return max(message.expires_at - workflow.now(), timedelta(0)) + EXPIRY_MARGIN

    async def _send_locally(self, input: SendMessageInput) -> SendMessageResult | None:
        """The first attempt, inside this workflow task; None hands the send to a regular activity.

        The workflow decided this message is due in this very task, so the activity need not ask it
        (and could not: a query waits for the task that runs the local activity to finish).
        """
        try:
            result: SendMessageResult = await workflow.execute_local_activity(
                "send_message",
                input.model_copy(update={"guarded": False}),
                result_type=SendMessageResult,
                start_to_close_timeout=SEND_ATTEMPT_TIMEOUT,
                retry_policy=ONE_ATTEMPT,
                summary=input.message.step,
            )
            return result
        except (ActivityError, ApplicationError, ActivityTimeout) as failed:
            # A local activity's failure arrives as its cause itself (the provider's error, a timeout).
            cause: FailureError | BaseException | None = (
                failed.cause if isinstance(failed, ActivityError) else failed
            )
            if isinstance(cause, ApplicationError) and cause.next_retry_delay:
                # The provider asked for a pause (Retry-After): it is not called again before then.
                await workflow.sleep(cause.next_retry_delay, summary="provider asked to wait")
            return None

    async def _alert_staff(self, failed: PlannedMessage, reason: str) -> None:
        """A message that reached nobody is a task for a person: the tenant's staff hear of it at once."""
        assert self.settings is not None
        facts = MessageFacts(reason=reason, about=failed.template, about_name=failed.recipient.name)
        for staff in self.settings.staff_recipients:
            alert = PlannedMessage(
                step=f"{failed.step}/failed/{staff.id}",
                template="staff_delivery_failed",
                audience="staff",
                recipient=staff,
                send_at=workflow.now(),
                facts=facts,
            )
            await self._send(alert)

    def carry_over(
        self, events: list[DomainEvent] | None = None, done: dict[str, StepRecord] | None = None
    ) -> LifecycleInput:
        return LifecycleInput(
            tenant=self.input.tenant,
            aggregate_id=self.input.aggregate_id,
            kind=self.input.kind,
            history_limit=self.input.history_limit,
            events=self.events if events is None else events,
            done=self.done if done is None else done,
            settings=self.settings,
        )
