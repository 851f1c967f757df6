"""`GET /v1/timeline/{kind}/{id}`: a lifecycle's state, what was sent, and what is planned next."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, WithJsonSchema
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.auth import StoreDep, Tenant
from api.openapi import TENANT_PROBLEMS, problems
from api.problems import Problem
from domain.deliveries import Delivery
from workflows.inputs import AppointmentState, LifecycleState
from workflows.routes import workflow_for

router = APIRouter(responses=TENANT_PROBLEMS)


# Moments as the lifecycle holds them, offset included ("2030-03-14T12:00:00+03:00").
Isoformat = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class PlannedMessage(BaseModel):
    step: str
    template: str
    audience: str
    send_at: Isoformat
    skip_reason: str | None = None


class Timeline(BaseModel):
    """A lifecycle as its workflow knows it: what was sent (oldest first) and what is planned."""

    kind: str
    id: str
    workflow_id: str
    status: str
    closed: bool
    starts_at: Isoformat | None = None
    state: dict[str, Any]
    deliveries: list[Delivery]
    planned: list[PlannedMessage]


async def lifecycle_state(
    client: Client, tenant: str, kind: str, aggregate_id: str
) -> tuple[str, LifecycleState]:
    """The workflow id and its `state` query's answer; a Problem (404, 503) when there is none.

    The JSON endpoint below and the staff console's timeline page both read a lifecycle this way.
    """
    wf_id = workflow_for(kind, tenant, aggregate_id)
    if wf_id is None:
        raise Problem(404, "Not found", f"unknown lifecycle kind {kind!r}")
    try:
        result_type = AppointmentState if kind == "appointment" else LifecycleState
        state = await client.get_workflow_handle(wf_id).query("state", result_type=result_type)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise Problem(404, "Not found", f"no {kind} {aggregate_id!r}") from exc
        detail = "the workflow engine did not answer; retry later"
        raise Problem(503, "Engine unavailable", detail, retry_after=5) from exc
    return wf_id, state


@router.get("/v1/timeline/{kind}/{aggregate_id}", response_model=Timeline, responses=problems(404))
async def timeline(
    kind: str, aggregate_id: str, request: Request, tenant: Tenant, store: StoreDep
) -> dict[str, Any]:
    wf_id, state = await lifecycle_state(request.app.state.temporal, tenant, kind, aggregate_id)
    sent = await store.list_deliveries(tenant, workflow_id=wf_id, limit=1000)
    view = state.view if isinstance(state, AppointmentState) else None
    return {
        "kind": kind,
        "id": aggregate_id,
        "workflow_id": wf_id,
        "status": state.status,
        "closed": state.closed,
        "starts_at": view.starts_at.isoformat() if view and view.starts_at else None,
        "state": view.model_dump(mode="json", exclude={"details"}) if view else state.summary,
        "deliveries": [row.public() for row in reversed(sent)],
        "planned": [
            {
                "step": m.step,
                "template": m.template,
                "audience": m.audience,
                "send_at": m.send_at.isoformat(),
                "skip_reason": m.skip_reason,
            }
            for m in sorted(state.planned, key=lambda m: m.send_at)
        ],
    }
