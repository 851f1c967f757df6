"""The loop every lifecycle workflow runs: re-plan on each event, sleep to the next message, send, end.

Planning is a local activity (its result lands in history, so local-time math never runs in the
sandbox). Each due message is its own send, started without blocking the loop (runs since
`SEND_TASKS_PATCH`): the first attempt is a local activity (no round trip through the server's
activity queue); if it does not settle the message, a regular activity takes over, heartbeating,
whose retries wait out an outage. A re-plan that drops a message in flight cancels its send, so a
cancelled or moved appointment never gets the stale reminder, and one send retrying for hours holds
up nothing else. Staff alerts are never dropped by a re-plan. A provider's later `failed` callback
(the `delivery_failed` signal) sends the message again on the next channel, or tells staff.

Runs recorded before that patch keep the old shape (`_run_in_turn`): one send at a time, the
activity asking the workflow whether the message is still wanted.

Runs started since `LEAN_PATCH` run fewer local activities (each is a workflow activation and a
marker in history): the first plan loads the tenant's settings itself, and a message that was
already due when the plan was made leads to a new plan after its send only when the plan looked that
step up (`LifecyclePlan.reads_done`): a confirmation is one plan and one send, not settings, plan,
send and plan again. A message that waited for its moment (a reminder, a recall's invitation) was
still followed by a new plan, so that a release that changed a planner reaches a running lifecycle at
its next message; runs started since `SAME_RELEASE_PATCH` skip that plan too when the send ran the
planning code and zone rules the plan was made with (activities/release.py): a reminder is one send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError
from temporalio.exceptions import TimeoutError as ActivityTimeout
from temporalio.workflow import ActivityCancellationType, ActivityHandle

with workflow.unsafe.imports_passed_through():
    from activities.models import (
        LoadSettingsInput,
        PlanInput,
        SendMessageInput,
        SendMessageResult,
        SettleSendInput,
    )
    from activities.send import NudgeActivities, idempotency_key
    from domain.events import DomainEvent
    from domain.planning import MessageFacts, PlannedMessage, StepRecord
    from domain.settings import TenantSettings
    from workflows.inputs import DeliveryFailed, LifecycleInput, LifecycleResult, LifecycleState

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
# Runs started since this patch send each message as its own cancellable task (module docstring).
SEND_TASKS_PATCH = "sends-as-cancellable-activities"
# One attempt covers the worst case of a provider call (activities/send.py DEFAULT_CALL_BUDGET:
# 22 s) plus recording it; the local first attempt has room for one call, a regular one for several
# channels in turn. An attempt ends itself before these, so attempts never overlap.
LOCAL_ATTEMPT_TIMEOUT = timedelta(seconds=30)
ATTEMPT_TIMEOUT = timedelta(minutes=2)
# A worker that died mid-attempt is noticed after this, not after the whole attempt timeout.
HEARTBEAT_TIMEOUT = timedelta(seconds=10)
# Event ids a lifecycle remembers across continue-as-new, beyond those it still carries.
SEEN_IDS_KEPT = 1000
# Runs started since this patch load settings in their first plan, and plan again after sending a
# message that was due when planned only if the plan read that step (module docstring).
LEAN_PATCH = "plan-loads-settings-replans-on-reads"
# Runs started since this patch do not plan again after any send the plan did not read, when the
# worker that sent runs the planning code the plan was made with (module docstring).
SAME_RELEASE_PATCH = "no-replan-within-a-release"
# Statuses after which staff hear of a message: nobody got it, or nobody knows whether they did.
ALERTING = frozenset({"failed", "unknown"})


class Plan(Protocol):
    messages: list[PlannedMessage]
    close_at: Any
    reads_done: list[str] | None
    settings: TenantSettings | None
    release: str | None

    @property
    def status(self) -> str: ...

    def send_fields(self) -> dict[str, Any]: ...


PlanT = TypeVar("PlanT", bound=Plan)
Planner = Callable[[Any, PlanInput], Awaitable[PlanT]]


class Lifecycle(Generic[PlanT]):
    """Events in, planned messages out; the state a workflow carries across continue-as-new."""

    def __init__(
        self, kind: str, input: LifecycleInput, planner: Planner[PlanT], plan_type: type[PlanT]
    ) -> None:
        self.kind, self.input = kind, input
        self.planner, self.plan_type = planner, plan_type
        self.events: list[DomainEvent] = list(input.events)
        # Ids of events applied in earlier runs too: a redelivery after continue-as-new is dropped.
        self.seen_ids: list[str] = [*input.seen_ids, *(event.id for event in self.events)]
        self.seen: set[str] = set(self.seen_ids)
        self.done: dict[str, StepRecord] = dict(input.done)
        self.settings: TenantSettings | None = input.settings
        self.plan: PlanT | None = None
        self.planned_at: datetime | None = None
        # dirty: plan again; changed: look again (a send finished that the plan does not depend on).
        self.dirty = True
        self.changed = False
        self.planning = False
        self.lean = False
        self.same_release_kept = False
        self.closed = False
        # Set by a workflow to ask the executing activity whether a message is still wanted (old runs).
        self.guarded = False
        # Sends in flight (step -> task), the regular activity of each once it has one, and the
        # messages sent in this run (a `failed` callback sends one again on the next channel).
        self.sending: dict[str, asyncio.Task[None]] = {}
        self.activities: dict[str, ActivityHandle[SendMessageResult]] = {}
        self.sent: dict[str, tuple[PlannedMessage, list[str]]] = {}
        self.cancellable: set[str] = set()
        self.failures: list[DeliveryFailed] = []

    def add(self, event: DomainEvent) -> None:
        # The API dedupes too; this catches a redelivery that raced it, or one after continue-as-new.
        if event.id in self.seen:
            return
        self.seen.add(event.id)
        self.seen_ids.append(event.id)
        self.events.append(event)
        self.dirty = True

    def delivery_failed(self, notice: DeliveryFailed) -> None:
        """A provider reported, after `sent`, that a message never arrived."""
        self.failures.append(notice)
        self.dirty = True

    @property
    def status(self) -> str:
        return str(self.plan.status) if self.plan is not None else "starting"

    def pending(self) -> list[PlannedMessage]:
        if self.plan is None:
            return []
        return [message for message in self.plan.messages if message.step not in self.done]

    @property
    def busy(self) -> bool:
        """Whether what is planned may still change without a new event (the `state` query says)."""
        return self.dirty or self.planning or bool(self.sending)

    def wanted(self, step: str) -> bool:
        """Whether a message is still planned now: a payment or a read may have cancelled it."""
        return any(message.step == step for message in self.pending())

    async def run(self, history_limit: int | None = None) -> bool:
        """Until the lifecycle ends (True) or its history should start afresh (False)."""
        self.lean = workflow.patched(LEAN_PATCH)
        self.same_release_kept = self.lean and workflow.patched(SAME_RELEASE_PATCH)
        if self.settings is None and not self.lean:
            self.settings = await workflow.execute_local_activity_method(
                NudgeActivities.load_settings,
                LoadSettingsInput(tenant=self.input.tenant),
                start_to_close_timeout=LOCAL_TIMEOUT,
            )
        # Signal-with-start always brings the first event; a bare start waits a while for one.
        try:
            await workflow.wait_condition(lambda: bool(self.events), timeout=FIRST_EVENT_WAIT)
        except TimeoutError:
            return True
        if workflow.patched(SEND_TASKS_PATCH):
            return await self._run_concurrently(history_limit)
        return await self._run_in_turn(history_limit)

    async def _run_in_turn(self, history_limit: int | None) -> bool:
        """The shape of runs recorded before SEND_TASKS_PATCH: one send at a time."""
        assert self.settings is not None
        while True:
            if self.dirty or self.plan is None:
                plan = await self._replan()
            else:
                plan = self.plan
            now = workflow.now()
            due = [message for message in self.pending() if message.send_at <= now]
            if due:
                for message in due:
                    if self.dirty:
                        break  # an event changed the plan while we were sending
                    await self._send(message)
                self.dirty = True
                continue
            wake_at = min([m.send_at for m in self.pending()] + [plan.close_at])
            if wake_at <= now:
                break
            if self._history_is_long(history_limit):
                await workflow.wait_condition(workflow.all_handlers_finished)
                return False
            await self._wait_for_change(wake_at - now)
        await workflow.wait_condition(workflow.all_handlers_finished)
        self.closed = True
        return True

    async def _run_concurrently(self, history_limit: int | None) -> bool:
        """Each due message its own task; the loop goes on re-planning while sends are in flight."""
        while True:
            self.changed = False
            if self.dirty or self.plan is None:
                plan = await self._replan()
                self._cancel_unwanted()
                self._resend_failures()
            else:
                plan = self.plan
            now = workflow.now()
            waiting = [m for m in self.pending() if m.step not in self.sending]
            for message in waiting:
                if message.send_at <= now:
                    self._start(message, cancellable=True)
            later = [m.send_at for m in waiting if m.send_at > now]
            wake_at = min([*later, plan.close_at])
            if wake_at <= now and not self.sending:
                break
            if not self.sending and self._history_is_long(history_limit):
                await workflow.wait_condition(workflow.all_handlers_finished)
                return False
            if wake_at <= now:
                # Only sends in flight: wait for them (or for an event) before ending.
                await workflow.wait_condition(
                    lambda: self.dirty or self.changed, timeout_summary="sends in flight"
                )
                continue
            await self._wait_for_change(wake_at - now)
        await workflow.wait_condition(workflow.all_handlers_finished)
        self.closed = True
        return True

    async def _wait_for_change(self, at_most: timedelta) -> None:
        """Until an event (or a finished send) changes things, or the next message is due."""
        try:
            await workflow.wait_condition(
                lambda: self.dirty or self.changed, timeout=at_most, timeout_summary="next message"
            )
        except TimeoutError:
            pass

    def _history_is_long(self, history_limit: int | None) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or (
            history_limit is not None and info.get_current_history_length() > history_limit
        )

    def _start(self, message: PlannedMessage, *, cancellable: bool, exclude: list[str] | None = None) -> None:
        self.sending[message.step] = asyncio.create_task(self._send_task(message, cancellable, exclude or []))

    def _cancel_unwanted(self) -> None:
        """A re-plan that no longer calls for a message in flight cancels its send (staff alerts
        and resends after a `failed` callback are not the plan's to drop)."""
        wanted = {message.step for message in self.pending()}
        for step, handle in self.activities.items():
            if step not in wanted and step in self.cancellable:
                handle.cancel()

    def _resend_failures(self) -> None:
        """A message reported `failed` after it was sent goes again on the next channel."""
        for notice in self.failures:
            if notice.step not in self.sent:
                continue  # not sent by this run (or a staff alert): nothing to send again
            message, excluded = self.sent[notice.step]
            tried = [*excluded, notice.channel]
            step = f"{notice.step}/after-{notice.channel}"
            if step in self.done or step in self.sending:
                continue
            again = message.model_copy(update={"step": step, "send_at": workflow.now()})
            self._start(again, cancellable=False, exclude=tried)
        self.failures.clear()

    async def _send_task(self, message: PlannedMessage, cancellable: bool, exclude: list[str]) -> None:
        if cancellable:
            self.cancellable.add(message.step)
        try:
            result = await self._send_once(message, exclude)
        finally:
            self.sending.pop(message.step, None)
            self.activities.pop(message.step, None)
            self.cancellable.discard(message.step)
        self.done[message.step] = StepRecord(at=workflow.now(), status=result.status)
        self._note_done(message, result)
        if result.status == "sent":
            self.sent[message.step] = (message, exclude)
            return
        # A resend after a `failed` callback that finds no channel left is a failure too.
        if message.audience != "staff" and (
            result.status in ALERTING or (exclude and result.status == "skipped")
        ):
            self._alert(message, result.reason or result.status)

    def _note_done(self, message: PlannedMessage, result: SendMessageResult) -> None:
        """Plan again, unless the plan never looked the step up and the same code would plan the
        same: the message was due when the plan was made, or (runs since SAME_RELEASE_PATCH) the
        send ran the planning code the plan was made with. Then the plan stands, minus that step."""
        plan = self.plan
        unread = plan is not None and plan.reads_done is not None and message.step not in plan.reads_done
        due_when_planned = self.planned_at is not None and message.send_at <= self.planned_at
        same_release = (
            self.same_release_kept
            and plan is not None
            and result.release is not None
            and result.release == plan.release
        )
        if self.lean and unread and (due_when_planned or same_release):
            self.changed = True
        else:
            self.dirty = True

    async def _send_once(self, message: PlannedMessage, exclude: list[str]) -> SendMessageResult:
        input = self._send_input(message).model_copy(update={"exclude_channels": exclude})
        result = await self._send_locally(input, LOCAL_ATTEMPT_TIMEOUT)
        if result is not None:
            return result
        if message.step in self.cancellable and not self.wanted(message.step):
            # Dropped by a re-plan while the first attempt ran or the provider asked us to wait.
            return await self._settle(input)
        handle = workflow.start_activity_method(
            NudgeActivities.send_message,
            input,
            start_to_close_timeout=ATTEMPT_TIMEOUT,
            schedule_to_close_timeout=self._send_budget(message),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=SEND_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=message.step,
        )
        self.activities[message.step] = handle
        try:
            return await handle
        except ActivityError as error:
            if isinstance(error.cause, CancelledError):
                # Cancelled while waiting to retry: nothing is in flight; record it skipped unless it went.
                return await self._settle(input)
            workflow.logger.warning("send of %s failed after all retries", message.step)
            return SendMessageResult(status="failed", reason=f"every retry failed: {error.cause or error}")

    async def _settle(self, input: SendMessageInput) -> SendMessageResult:
        return await workflow.execute_local_activity_method(
            NudgeActivities.settle_send,
            SettleSendInput(
                idempotency_key=idempotency_key(input), reason="no longer wanted: the lifecycle moved on"
            ),
            start_to_close_timeout=LOCAL_TIMEOUT,
        )

    def _alert(self, failed: PlannedMessage, reason: str) -> None:
        """A message that reached nobody, or may not have, is a task for a person: staff hear at once."""
        for alert in self._alerts(failed, reason):
            if alert.step not in self.done and alert.step not in self.sending:
                self._start(alert, cancellable=False)

    def state(self) -> LifecycleState:
        view = getattr(self.plan, "view", None)
        return LifecycleState(
            status=self.status,
            planned=self.pending(),
            done=self.done,
            events=len(self.events),
            closed=self.closed,
            summary=view.model_dump(mode="json") if view is not None else {},
            busy=self.busy,
        )

    def result(self) -> LifecycleResult:
        statuses = [record.status for record in self.done.values()]
        return LifecycleResult(
            status=self.status,
            sent=statuses.count("sent"),
            skipped=statuses.count("skipped"),
            failed=statuses.count("failed"),
        )

    async def _replan(self) -> PlanT:
        self.dirty, self.planning = False, True
        try:
            plan: PlanT = await workflow.execute_local_activity_method(
                self.planner,
                PlanInput(
                    events=self.events, settings=self.settings, done=self.done, tenant=self.input.tenant
                ),
                start_to_close_timeout=LOCAL_TIMEOUT,
            )
        finally:
            self.planning = False
        if plan.settings is not None:  # the first plan of a lean run loaded them
            self.settings = plan.settings
        self.plan, self.planned_at = plan, workflow.now()
        return plan

    def _send_input(self, message: PlannedMessage, guarded: bool = False) -> SendMessageInput:
        assert self.settings is not None and self.plan is not None
        return SendMessageInput(
            tenant=self.input.tenant,
            workflow_id=workflow.info().workflow_id,
            subject=f"{self.kind}:{self.input.aggregate_id}",
            message=message,
            default_locale=self.settings.default_locale,
            channel_costs=self.settings.channel_costs,
            guarded=guarded,
            episode=self.input.episode,
            **self.plan.send_fields(),
        )

    async def _send(self, message: PlannedMessage) -> None:
        """The send of runs recorded before SEND_TASKS_PATCH."""
        input = self._send_input(message, guarded=self.guarded)
        result = (
            await self._send_locally(input, SEND_ATTEMPT_TIMEOUT)
            if workflow.patched(LOCAL_SEND_PATCH)
            else None
        )
        try:
            if result is None:
                result = await workflow.execute_activity_method(
                    NudgeActivities.send_message,
                    input,
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
        if status in ALERTING and message.audience != "staff":
            await self._alert_staff(message, reason)

    @staticmethod
    def _send_budget(message: PlannedMessage) -> timedelta:
        if message.expires_at is None:
            return UNBOUNDED_SEND
        return max(message.expires_at - workflow.now(), timedelta(0)) + EXPIRY_MARGIN

    async def _send_locally(self, input: SendMessageInput, budget: timedelta) -> SendMessageResult | None:
        """The first attempt, inside this workflow task; None hands the send to a regular activity.

        The workflow decided this message is due in this very task, so the activity need not ask it
        (and could not: a query waits for the task that runs the local activity to finish).
        """
        try:
            result: SendMessageResult = await workflow.execute_local_activity_method(
                NudgeActivities.send_message,
                input.model_copy(update={"guarded": False}),
                start_to_close_timeout=budget,
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
        for alert in self._alerts(failed, reason):
            await self._send(alert)

    def _alerts(self, failed: PlannedMessage, reason: str) -> list[PlannedMessage]:
        assert self.settings is not None
        facts = MessageFacts(reason=reason, about=failed.template, about_name=failed.recipient.name)
        return [
            PlannedMessage(
                step=f"{failed.step}/failed/{staff.id}",
                template="staff_delivery_failed",
                audience="staff",
                recipient=staff,
                send_at=workflow.now(),
                facts=facts,
            )
            for staff in self.settings.staff_recipients
        ]

    def carry_over(
        self, events: list[DomainEvent] | None = None, done: dict[str, StepRecord] | None = None
    ) -> LifecycleInput:
        kept = self.events if events is None else events
        carried = {event.id for event in kept}
        return LifecycleInput(
            tenant=self.input.tenant,
            aggregate_id=self.input.aggregate_id,
            kind=self.input.kind,
            history_limit=self.input.history_limit,
            events=kept,
            done=self.done if done is None else done,
            settings=self.settings,
            episode=self.input.episode,
            planner_version=self.input.planner_version,
            seen_ids=[event_id for event_id in self.seen_ids if event_id not in carried][-SEEN_IDS_KEPT:],
        )
