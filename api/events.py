"""`POST /v1/events`: where a domain event enters. Validate, dedupe, store, hand to api/relay.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from pydantic import BaseModel, Field

from api.auth import StoreDep, Tenant
from api.cloudevents import BATCH, STRUCTURED, ParsedEvent, parse
from api.limits import read_body
from api.notifications import check_templates
from api.openapi import TENANT_PROBLEMS, inline_schema, problems
from api.problems import FieldError, Problem
from api.relay import Accepted, Relay
from api.waitlist import record_waitlist
from domain.consent import ConsentChange
from domain.contacts import Contact
from domain.events import CloudEvent, ConsentGiven, DomainEvent
from store import DeadEvent, EventStatus, InboundEventKey, Store
from store.consent import Ledger
from workflows.routes import STORE_ONLY, Route, route

router = APIRouter(responses=TENANT_PROBLEMS)
EVENTS = Counter("nudgeflow_events_total", "CloudEvents received", ["outcome"])
# One event as its workflow receives it. Temporal refuses a payload over 2 MiB and warns past
# 512 KiB, and a lifecycle keeps its events (in its history, across continue-as-new): real events
# are a few KiB, so a quarter of a MiB leaves room for every one of them and stops the absurd.
MAX_EVENT_BYTES = 256 * 1024


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


class Receipt(BaseModel):
    """The request's events: accepted, known already (same source and id), or for a lifecycle over."""

    accepted: list[str]
    duplicates: list[str]
    ignored: list[str]


# The body is read raw (limits, three modes), so FastAPI cannot infer it: written down here.
_EVENT = inline_schema(CloudEvent)
_EVENTS_BODY = {
    "required": True,
    "description": "One CloudEvent (structured mode), a batch of them, or binary mode: `data` as the body "
    "with `ce-specversion`, `ce-id`, `ce-source`, `ce-type`… headers",
    "content": {
        STRUCTURED: {"schema": _EVENT},
        BATCH: {"schema": {"type": "array", "items": _EVENT, "minItems": 1}},
        "application/json": {"schema": _EVENT},
    },
}


@router.post(
    "/v1/events",
    status_code=202,
    response_model=Receipt,
    responses=problems(400, 413, 415),
    openapi_extra={"requestBody": _EVENTS_BODY},
)
async def post_events(request: Request, tenant: Tenant, store: StoreDep) -> JSONResponse:
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    headers = {key.lower(): value for key, value in request.headers.items()}
    try:
        events = parse(headers.get("content-type", ""), headers, body, tenant)
        routes = _routes(tenant, events)
        await check_templates(store, tenant, events, batch=headers.get("content-type", "").startswith(BATCH))
    except Problem:
        EVENTS.labels("rejected").inc()
        raise
    now = datetime.now(UTC)
    outgoing = [_domain_event(tenant, e, now) if r else None for e, r in zip(events, routes, strict=True)]
    if len(body) > MAX_EVENT_BYTES:
        _check_sizes(outgoing)
    keys = [
        InboundEventKey(
            source=e.envelope.source,
            event_id=e.envelope.id,
            type=e.envelope.type,
            subject=e.envelope.subject,
            workflow_id=r.workflow_id if r else None,
            payload=o.model_dump(mode="json") if o else None,
        )
        for e, r, o in zip(events, routes, outgoing, strict=True)
    ]
    # Committed here, with the contacts the events carry: from now on the event cannot be lost.
    relay: Relay = request.app.state.relay
    lease = relay.lease(tenant)
    seen = await store.claim_events(tenant, keys, _contacts(events), lease=lease)
    duplicates, claimed, to_deliver = [], [], []
    for event, target, domain_event in zip(events, routes, outgoing, strict=True):
        key = (event.envelope.source, event.envelope.id)
        if seen[key] != EventStatus.NEW or key in claimed:
            duplicates.append(event.envelope.id)
            continue
        claimed.append(key)
        if target is not None and domain_event is not None:
            to_deliver.append(Accepted(tenant, target, domain_event))
    await _record_consents(
        store, tenant, [e for e in events if (e.envelope.source, e.envelope.id) in claimed]
    )
    await record_waitlist(store, tenant, [e for e in events if (e.envelope.source, e.envelope.id) in claimed])
    ignored = await relay.deliver(to_deliver, leased=True) if lease is not None else set()
    EVENTS.labels("accepted").inc(len(claimed))
    EVENTS.labels("duplicate").inc(len(duplicates))
    return JSONResponse(
        {
            "accepted": [event_id for source, event_id in claimed if (source, event_id) not in ignored],
            "duplicates": duplicates,
            "ignored": [event_id for source, event_id in claimed if (source, event_id) in ignored],
        },
        status_code=202,
    )


async def _record_consents(store: Store, tenant: str, events: list[ParsedEvent]) -> None:
    """New `consent.*` events become consent ledger records (api/answers.py reads them back)."""
    changes = []
    for event in events:
        data = event.data
        if not isinstance(data, ConsentGiven):
            continue
        evidence = data.evidence if isinstance(data.evidence, dict) else {"text": data.evidence or ""}
        changes.append(
            ConsentChange(
                contact_id=data.contact_id,
                category=data.category,
                status="granted" if event.envelope.type == "consent.granted" else "revoked",
                channel=data.channel,
                contact_point=data.contact_point,
                source=data.source,
                evidence={**evidence, "event_id": event.envelope.id},
                actor=event.envelope.source,
            )
        )
    if changes:
        await Ledger(store.engine).append(tenant, changes)


def _check_sizes(events: list[DomainEvent | None]) -> None:
    """Each event of a large body must still be one a lifecycle can carry."""
    too_big = [
        FieldError(field=f"[{index}]", message=f"the event is over {MAX_EVENT_BYTES} bytes")
        for index, event in enumerate(events)
        if event is not None and len(event.model_dump_json()) > MAX_EVENT_BYTES
    ]
    if too_big:
        raise Problem(413, "Event too large", "nothing was accepted", too_big)


def _domain_event(tenant: str, event: ParsedEvent, now: datetime) -> DomainEvent:
    env = event.envelope
    return DomainEvent(
        id=env.id,
        source=env.source,
        type=env.type,
        tenant=tenant,
        sequence=env.sequence,
        time=env.time,
        received_at=now,
        data=event.data.model_dump(mode="json", exclude_unset=True),
    )


@router.get("/v1/events/dead")
async def dead_events(
    tenant: Tenant, store: StoreDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, list[DeadEvent]]:
    """Events Temporal refused too often (api/relay.py), newest first: what, why, how many tries."""
    return {"dead": await store.dead_events(tenant, limit)}


class Revive(BaseModel):
    ids: list[Annotated[str, Field(max_length=200)]] = Field(min_length=1, max_length=1000)


@router.post("/v1/events/dead/retry", responses=problems(400))
async def retry_dead_events(
    revive: Annotated[Revive, Body()], tenant: Tenant, store: StoreDep
) -> dict[str, list[str]]:
    """Put dead letters back in the outbox with no refusals counted (after fixing what Temporal refused)."""
    return {"retried": await store.revive_events(tenant, revive.ids)}
