"""Which workflow owns an event: the lifecycle kind and its id `{kind}:{tenant}:{aggregate_id}`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain.events import DomainEvent, FeedbackSubmitted
from workflows.appointment import AppointmentWorkflow, workflow_id
from workflows.inputs import AppointmentWorkflowInput

# Types that only update the store (contacts) and start no lifecycle.
STORE_ONLY = frozenset({"contact.updated"})


@dataclass(frozen=True)
class Route:
    kind: str
    aggregate_id: str
    workflow_id: str
    run: Any
    input: BaseModel


def route(tenant: str, event_type: str, data: BaseModel) -> Route | None:
    """The owning lifecycle, or None when no lifecycle of this version handles the type."""
    family = event_type.split(".")[0]
    appointment_id: str | None = None
    if family in ("appointment", "attendance"):
        appointment_id = str(getattr(data, "appointment_id"))  # noqa: B009 - every such type has it
    elif isinstance(data, FeedbackSubmitted) and data.subject_kind == "appointment":
        appointment_id = data.subject_id
    if appointment_id is None:
        return None
    return Route(
        kind="appointment",
        aggregate_id=appointment_id,
        workflow_id=workflow_id(tenant, appointment_id),
        run=AppointmentWorkflow.run,
        input=AppointmentWorkflowInput(tenant=tenant, appointment_id=appointment_id),
    )


def workflow_for(kind: str, tenant: str, aggregate_id: str) -> str | None:
    if kind == "appointment":
        return workflow_id(tenant, aggregate_id)
    return None


async def signal_with_start(
    client: Client, task_queue: str, target: Route, events: list[DomainEvent]
) -> bool:
    """Deliver events to their workflow in order; False if its lifecycle has already ended."""
    for event in events:
        try:
            await client.start_workflow(
                target.run,
                target.input,
                id=target.workflow_id,
                task_queue=task_queue,
                start_signal="event",
                start_signal_args=[event],
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            return False
    return True
