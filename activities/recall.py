"""What an appointment tells its patient's recalls, and the register of open recalls it reads.

A booking holds every open recall of the patient; a completed visit re-arms them, and opens the
recall of its service when the tenant's settings give that service an interval; a cancelled or
missed visit stops holding them. The appointment lifecycle learns each of these and calls
`tell_recalls` (a local activity); the recalls' own workflows keep the register (`mark_recall`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from domain.contacts import Contact
from domain.events import DomainEvent
from domain.recall import VISIT, RecallVisit
from store import Store
from store.recalls import OpenRecalls

RECALL_WORKFLOW = "RecallWorkflow"


class RecallNotice(BaseModel):
    """What happened to one appointment, as its recalls need to know it."""

    tenant: str
    appointment_id: str
    state: Literal["booked", "completed", "ended"]
    patient: Contact
    service_code: str
    starts_at: datetime | None = None
    at: datetime
    # Which start time this is about: a rescheduled booking is told again.
    schedule_version: int = 0


class MarkRecallInput(BaseModel):
    tenant: str
    patient_id: str
    recall_type: str
    open: bool


class TellRecallsResult(BaseModel):
    told: list[str]


def recall_workflow_id(tenant: str, patient_id: str, recall_type: str) -> str:
    return f"recall:{tenant}:{patient_id}:{recall_type}"


class RecallActivities:
    def __init__(self, store: Store, temporal: Client) -> None:
        self.store, self.temporal = store, temporal
        self.register = OpenRecalls(store.engine)

    @activity.defn
    async def mark_recall(self, input: MarkRecallInput) -> None:
        await self.register.mark(input.tenant, input.patient_id, input.recall_type, open=input.open)

    @activity.defn
    async def tell_recalls(self, notice: RecallNotice) -> TellRecallsResult:
        """Signal the patient's open recalls; start the service's recall on a completed visit."""
        tenant, patient = notice.tenant, notice.patient
        rule = None
        if notice.state == "completed":
            rule = (await self.store.get_settings(tenant)).recall_intervals.get(notice.service_code)
        told: list[str] = []
        for recall_type in await self.register.open_types(tenant, patient.id):
            if rule is not None and recall_type == rule.recall_type:
                continue  # re-armed below, with its interval
            if await self._signal(notice, recall_type, interval=None):
                told.append(recall_type)
            else:
                await self.register.mark(tenant, patient.id, recall_type, open=False)
        if rule is not None:
            await self._start(notice, rule.recall_type, rule.interval)
            told.append(rule.recall_type)
        return TellRecallsResult(told=told)

    def _event(self, notice: RecallNotice, recall_type: str, interval: str | None) -> DomainEvent:
        visit = RecallVisit(
            appointment_id=notice.appointment_id,
            state=notice.state,
            starts_at=notice.starts_at,
            at=notice.at,
            patient=notice.patient,
            interval=interval,
        )
        return DomainEvent(
            # Stable across retries and redeliveries: the recall applies each fact once.
            id=f"visit:{notice.appointment_id}:{notice.state}:{notice.schedule_version}:{recall_type}",
            source="nudgeflow/appointment",
            type=VISIT,
            tenant=notice.tenant,
            received_at=notice.at,
            data=visit.model_dump(mode="json"),
        )

    async def _signal(self, notice: RecallNotice, recall_type: str, interval: str | None) -> bool:
        """False when that recall's workflow has ended since the register said it was open."""
        handle = self.temporal.get_workflow_handle(
            recall_workflow_id(notice.tenant, notice.patient.id, recall_type)
        )
        try:
            await handle.signal("event", self._event(notice, recall_type, interval))
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    async def _start(self, notice: RecallNotice, recall_type: str, interval: str) -> None:
        event = self._event(notice, recall_type, interval)
        aggregate_id = f"{notice.patient.id}:{recall_type}"
        # The shape of workflows/routes.py's LifecycleInput (activities do not import workflows).
        input = {
            "tenant": notice.tenant,
            "aggregate_id": aggregate_id,
            "kind": "recall",
            "episode": hashlib.sha256(event.id.encode()).hexdigest()[:12],
        }
        await self.temporal.start_workflow(
            RECALL_WORKFLOW,
            input,
            id=recall_workflow_id(notice.tenant, notice.patient.id, recall_type),
            task_queue=activity.info().task_queue,
            start_signal="event",
            start_signal_args=[event],
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )


def recall_activities(store: Store, temporal: Client) -> list[Callable[..., Any]]:
    """What a worker registers for recalls: the two activities above (the planner is in Planning)."""
    recalls = RecallActivities(store, temporal)
    return [recalls.mark_recall, recalls.tell_recalls]
