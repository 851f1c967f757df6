"""The delivery log, contacts and tenant settings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, Field

from api.auth import StoreDep, Tenant
from api.openapi import TENANT_PROBLEMS, problems
from api.problems import Problem
from domain.contacts import Contact
from domain.deliveries import Delivery, DeliveryStatus, SubjectKind, subjects_for
from domain.settings import TenantSettings
from store import DeliveryAttempt
from store.callbacks import DeliveryEvent
from store.erasure import Erasure
from store.settings_audit import SettingsAudit

router = APIRouter(responses=TENANT_PROBLEMS)


class LoggedDelivery(Delivery):
    """A delivery as the log shows it; with `attempts=true`, its attempts and status callbacks too."""

    attempts: list[DeliveryAttempt] = Field(default_factory=list)
    events: list[DeliveryEvent] = Field(default_factory=list)


class DeliveryLog(BaseModel):
    deliveries: list[LoggedDelivery]


# Unset: the keys a row does not have (attempts and events unless asked for) are left out, not null.
@router.get("/v1/deliveries", response_model=DeliveryLog, response_model_exclude_unset=True)
async def deliveries(
    tenant: Tenant,
    store: StoreDep,
    subject: str | None = None,
    contact_id: str | None = None,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    attempts: bool = False,
    kind: SubjectKind | None = None,
) -> dict[str, Any]:
    """Newest first; `subject` is the aggregate id as the backend sent it (`a-1`; `appointment:a-1`
    works too) and `kind` narrows it to one lifecycle; `attempts=true` adds every attempt and every
    provider status callback."""
    rows = await store.list_deliveries(
        tenant,
        subjects=subjects_for(subject, kind) if subject is not None else None,
        subject_prefix=f"{kind.value}:" if kind is not None and subject is None else None,
        contact_id=contact_id,
        status=status.value if status else None,
        limit=limit,
    )
    found = [row.public() for row in rows]
    if attempts:
        for item in found:
            item["attempts"] = [a.model_dump(mode="json") for a in await store.list_attempts(item["id"])]
            item["events"] = [e.model_dump(mode="json") for e in await store.list_delivery_events(item["id"])]
    return {"deliveries": found}


@router.get("/v1/contacts/{contact_id}", responses=problems(404))
async def get_contact(contact_id: str, tenant: Tenant, store: StoreDep) -> Contact:
    contact = await store.get_contact(tenant, contact_id)
    if contact is None:
        raise Problem(404, "Not found", f"no contact {contact_id!r}")
    return contact


@router.put("/v1/contacts/{contact_id}", responses=problems(400))
async def put_contact(
    contact_id: str, contact: Annotated[Contact, Body()], tenant: Tenant, store: StoreDep
) -> Contact:
    if contact.id != contact_id:
        raise Problem(422, "Invalid contact", "the body's id must match the path")
    await store.upsert_contact(tenant, contact)
    return contact


@router.delete("/v1/contacts/{contact_id}", status_code=204, responses=problems(404))
async def erase_contact(contact_id: str, tenant: Tenant, store: StoreDep) -> Response:
    """Erasure: the contact's personal data leaves the store and its messages' bodies are redacted."""
    erased = await Erasure(store.engine).erase(tenant, contact_id)
    if not erased.found:
        raise Problem(404, "Not found", f"no contact {contact_id!r}")
    return Response(status_code=204)


@router.get("/v1/settings")
async def get_settings(tenant: Tenant, store: StoreDep) -> TenantSettings:
    return await store.get_settings(tenant)


@router.put("/v1/settings", responses=problems(400))
async def put_settings(
    settings: Annotated[TenantSettings, Body()], tenant: Tenant, store: StoreDep, request: Request
) -> TenantSettings:
    # Audited like a change from the staff console, with the API key as the author.
    await SettingsAudit(store.engine).change(tenant, settings, "API key")
    request.app.state.relay.forget_settings(tenant)
    return await store.get_settings(tenant)
