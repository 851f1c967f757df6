"""`POST /v1/events`: where a domain event enters. Validate, dedupe, signal-with-start its workflow."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from temporalio.client import Client
from temporalio.service import RPCError

from api.auth import StoreDep, Tenant
from api.cloudevents import ParsedEvent, parse
from api.problems import FieldError, Problem
from domain.contacts import Contact
from domain.events import DomainEvent
from store import InboundEventKey
from workflows.routes import STORE_ONLY, Route, route, signal_with_start

router = APIRouter()
EVENTS = Counter("nudgeflow_events_total", "CloudEvents received", ["outcome"])


def _contacts(events: list[ParsedEvent]) -> list[Contact]:
    """Contacts carried inside events; each upserts the stored one."""
    found: dict[str, Contact] = {}
    for event in events:
        for name in ("patient", "student", "guardian", "contact"):
            value = getattr(event.data, name, None)
            if isinstance(value, Contact):
                found[value.id] = value
    return list(found.values())


def _routes(tenant: str, events: list[ParsedEvent]) -> list[Route | None]:
    routes = [route(tenant, event.envelope.type, event.data) for event in events]
    unhandled = [
        FieldError(field="type", message=f"no lifecycle handles {event.envelope.type!r} in this version")
        for event, found in zip(events, routes, strict=True)
        if found is None and event.envelope.type not in STORE_ONLY
    ]
    if unhandled:
        raise Problem(422, "Unhandled event type", "nothing was accepted", unhandled)
    return routes


@router.post("/v1/events", status_code=202)
async def post_events(request: Request, tenant: Tenant, store: StoreDep) -> JSONResponse:
    body = await request.body()
    headers = {key.lower(): value for key, value in request.headers.items()}
    try:
        events = parse(headers.get("content-type", ""), headers, body, tenant)
        routes = _routes(tenant, events)
    except Problem:
        EVENTS.labels("rejected").inc()
        raise
    keys = [
        InboundEventKey(
            source=e.envelope.source,
            event_id=e.envelope.id,
            type=e.envelope.type,
            subject=e.envelope.subject,
            workflow_id=r.workflow_id if r else None,
        )
        for e, r in zip(events, routes, strict=True)
    ]
    seen = await store.claim_events(tenant, keys, _contacts(events))
    now = datetime.now(UTC)
    batches: dict[str, list[DomainEvent]] = defaultdict(list)
    targets: dict[str, Route] = {}
    duplicates, claimed = [], []
    for event, target in zip(events, routes, strict=True):
        env = event.envelope
        key = (env.source, env.id)
        if seen[key] in ("routed", "ignored") or key in claimed:
            duplicates.append(env.id)
            continue
        claimed.append(key)
        if target is None:
            continue  # a contact update: stored above, no lifecycle to tell
        targets[target.workflow_id] = target
        batches[target.workflow_id].append(
            DomainEvent(
                id=env.id,
                source=env.source,
                type=env.type,
                tenant=tenant,
                sequence=env.sequence,
                time=env.time,
                received_at=now,
                data=event.data.model_dump(mode="json", exclude_unset=True),
            )
        )
    client: Client = request.app.state.temporal
    task_queue: str = request.app.state.settings.task_queue
    try:
        outcomes = await asyncio.gather(
            *(signal_with_start(client, task_queue, targets[wf], batch) for wf, batch in batches.items())
        )
    except RPCError as exc:
        # Temporal is unreachable: forget the claims so the backend's retry is not taken as a duplicate.
        await store.forget_events(tenant, claimed)
        raise Problem(503, "Engine unavailable", "the workflow engine did not answer; retry later") from exc
    ignored = [
        (e.source, e.id) for wf, ok in zip(batches, outcomes, strict=True) if not ok for e in batches[wf]
    ]
    await store.mark_events(tenant, [k for k in claimed if k not in ignored], "routed")
    if ignored:
        await store.mark_events(tenant, ignored, "ignored")
    EVENTS.labels("accepted").inc(len(claimed))
    EVENTS.labels("duplicate").inc(len(duplicates))
    return JSONResponse(
        {
            "accepted": [eid for src, eid in claimed if (src, eid) not in ignored],
            "duplicates": duplicates,
            "ignored": [event_id for _, event_id in ignored],
        },
        status_code=202,
    )
