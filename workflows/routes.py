"""Which workflow owns an event: the lifecycle kind and its id `{kind}:{tenant}:{aggregate_id}`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain.events import Balance, ChatMessage, DomainEvent, FeedbackSubmitted, Invoice, Notification
from domain.recall import recall_of
from workflows.appointment import AppointmentWorkflow
from workflows.chat import ChatEscalationWorkflow
from workflows.inputs import LifecycleInput
from workflows.lesson import LessonWorkflow
from workflows.notification import NotificationWorkflow
from workflows.payment import PaymentWorkflow
from workflows.recall import RecallWorkflow
from workflows.slot import SlotOfferWorkflow

# Types that only update the store (contacts, the consent ledger) and start no lifecycle.
STORE_ONLY = frozenset(
    {"contact.updated", "consent.granted", "consent.revoked", "waitlist.joined", "waitlist.left"}
)

# kind -> workflow run method; the workflow id is always `{kind}:{tenant}:{aggregate_id}`.
WORKFLOWS: dict[str, Any] = {
    "appointment": AppointmentWorkflow.run,
    "lesson": LessonWorkflow.run,
    "invoice": PaymentWorkflow.run,
    "balance": PaymentWorkflow.run,
    "chat": ChatEscalationWorkflow.run,
    "recall": RecallWorkflow.run,
    "slot": SlotOfferWorkflow.run,
    # One per notification id; REJECT_DUPLICATE below: a request posted again after it went is ignored.
    "notification": NotificationWorkflow.run,
}
# An appointment, lesson or invoice that ended stays ended (a paid invoice stays paid, whatever
# order its events arrive in); a balance, a chat or a recall may begin a new episode.
REUSABLE = frozenset({"balance", "chat", "recall"})
# The planning rules new runs start under (LifecycleInput.planner_version).
PLANNER_VERSION = 2


@dataclass(frozen=True)
class Route:
    kind: str
    aggregate_id: str
    workflow_id: str
    run: Any
    input: LifecycleInput
    reuse: WorkflowIDReusePolicy


def workflow_for(kind: str, tenant: str, aggregate_id: str) -> str | None:
    return f"{kind}:{tenant}:{aggregate_id}" if kind in WORKFLOWS else None


def _owner(event_type: str, data: BaseModel) -> tuple[str, str] | None:
    family = event_type.split(".")[0]
    if family in ("appointment", "attendance"):
        return "appointment", str(getattr(data, "appointment_id"))  # noqa: B009 - every such type has it
    if family == "slot":
        return "slot", str(getattr(data, "slot_id"))  # noqa: B009
    if family == "lesson":
        return "lesson", str(getattr(data, "lesson_id"))  # noqa: B009
    if event_type == "payment.reported":  # the payer's "I've paid": the invoice's or balance's
        return str(getattr(data, "subject_kind")), str(getattr(data, "subject_id"))  # noqa: B009
    if (recall := recall_of(data)) is not None:
        return "recall", recall
    if isinstance(data, FeedbackSubmitted):
        return data.subject_kind, data.subject_id
    if isinstance(data, Invoice):
        return "invoice", data.invoice_id
    if isinstance(data, Balance):
        return "balance", data.account_id
    if isinstance(data, ChatMessage):
        return "chat", data.conversation_id
    if isinstance(data, Notification):
        return "notification", data.notification_id
    return None


def route(tenant: str, event_type: str, data: BaseModel) -> Route | None:
    """The owning lifecycle, or None when no lifecycle handles the type (contacts)."""
    owner = _owner(event_type, data)
    return None if owner is None else _route(tenant, *owner)


def route_to(tenant: str, workflow_id: str) -> Route | None:
    """The route an event stored with this workflow id takes (the relay's view of `route`)."""
    kind = workflow_id.split(":", 1)[0]
    prefix = f"{kind}:{tenant}:"
    if kind not in WORKFLOWS or not workflow_id.startswith(prefix):
        return None
    return _route(tenant, kind, workflow_id[len(prefix) :])


def _route(tenant: str, kind: str, aggregate_id: str) -> Route:
    return Route(
        kind=kind,
        aggregate_id=aggregate_id,
        workflow_id=f"{kind}:{tenant}:{aggregate_id}",
        run=WORKFLOWS[kind],
        input=LifecycleInput(
            tenant=tenant, aggregate_id=aggregate_id, kind=kind, planner_version=PLANNER_VERSION
        ),
        reuse=(
            WorkflowIDReusePolicy.ALLOW_DUPLICATE
            if kind in REUSABLE
            else WorkflowIDReusePolicy.REJECT_DUPLICATE
        ),
    )


def episode_of(event: DomainEvent) -> str:
    """A short, stable name for the run an event starts (a redelivery of it names the same one)."""
    return hashlib.sha256(event.id.encode()).hexdigest()[:12]


async def signal_with_start(
    client: Client,
    task_queue: str,
    target: Route,
    events: list[DomainEvent],
    task_timeout: timedelta | None = None,
) -> bool:
    """Deliver events to their workflow in order; False if its lifecycle has already ended.

    `task_timeout` (config.workflow_task_timeout) stays with the workflow's later runs: a
    continue-as-new that names none inherits it.
    """
    for event in events:
        try:
            await client.start_workflow(
                target.run,
                # Used only if this event starts a run: the run's episode is named after it.
                target.input.model_copy(update={"episode": episode_of(event)}),
                id=target.workflow_id,
                task_queue=task_queue,
                start_signal="event",
                start_signal_args=[event],
                id_reuse_policy=target.reuse,
                task_timeout=task_timeout,
            )
        except WorkflowAlreadyStartedError:
            return False
    return True
