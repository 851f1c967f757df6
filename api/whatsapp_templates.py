"""WhatsApp template statuses per language: read them, sync them from Meta, or set one as staff.

`GET /v1/whatsapp/templates` lists each template × language with its status (approved, pending,
rejected, paused), reason, source (sync | staff) and when; `POST /v1/whatsapp/templates/sync` reads
the business account's templates from Meta (`GET /{WABA-ID}/message_templates`) into it; `PUT
/v1/whatsapp/templates/{template}/{language}` is staff's word for one (an appeal Meta has not
answered yet, a language they want held back). Every API process also syncs them hourly when a
business account is configured. Sends honour them (activities/whatsapp_templates.py).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, FastAPI, Path, Request
from pydantic import BaseModel, Field

from api.auth import StoreDep, Tenant
from api.channels import adapters, app_config
from api.openapi import TENANT_PROBLEMS, problems
from api.problems import Problem
from channels.base import SendError
from channels.whatsapp import WhatsAppAdapter
from domain.contacts import Channel
from domain.fields import Id
from domain.whatsapp_templates import TemplateStatus
from store.whatsapp_templates import TemplateStatusRecord, WhatsAppTemplates

router = APIRouter(responses=TENANT_PROBLEMS)
log = logging.getLogger("nudgeflow.whatsapp_templates")
SYNC_EVERY = timedelta(hours=1)
# Meta's template names and language codes (`en`, `en_US`, `zh_Hant_HK` is not one of ours).
TemplateName = Annotated[str, Path(pattern=r"^[a-z0-9_]{1,512}$")]
LanguageCode = Annotated[str, Path(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")]


class TemplateStatuses(BaseModel):
    templates: list[TemplateStatusRecord]


class StaffStatus(BaseModel):
    status: TemplateStatus
    reason: Annotated[str | None, Field(max_length=2000)] = None
    # Who says so, for the record (a staff member's name or email).
    by: Id | None = None


class SyncResult(BaseModel):
    templates: int
    changed: int


@router.get("/v1/whatsapp/templates", response_model=TemplateStatuses)
async def template_statuses(tenant: Tenant, store: StoreDep) -> TemplateStatuses:
    """Every WhatsApp template × language the engine knows of, with its status."""
    return TemplateStatuses(templates=await WhatsAppTemplates(store.engine).list(tenant))


@router.put(
    "/v1/whatsapp/templates/{template}/{language}",
    response_model=TemplateStatusRecord,
    responses=problems(400),
)
async def set_template_status(
    template: TemplateName, language: LanguageCode, body: StaffStatus, tenant: Tenant, store: StoreDep
) -> TemplateStatusRecord:
    """Staff set one language's status; a sync from Meta later overwrites it with Meta's."""
    reason = " — ".join(part for part in (body.reason, f"set by {body.by}" if body.by else None) if part)
    record = TemplateStatusRecord(
        template=template,
        language=language,
        status=body.status,
        reason=reason or None,
        source="staff",
        updated_at=datetime.now(UTC),
    )
    templates = WhatsAppTemplates(store.engine)
    await templates.put(tenant, [record])
    return next(r for r in await templates.list(tenant) if (r.template, r.language) == (template, language))


async def read_from_meta(app: FastAPI) -> list[TemplateStatusRecord]:
    """Every template × language of the business account, as Meta reports it now."""
    adapter = (await adapters(app)).get(Channel.WHATSAPP)
    if not isinstance(adapter, WhatsAppAdapter) or not adapter.business_account_id:
        raise Problem(409, "WhatsApp not configured", "set NUDGEFLOW_WHATSAPP_BUSINESS_ACCOUNT_ID")
    try:
        found = await adapter.template_statuses()
    except SendError as exc:
        detail = f"the template list could not be read: {exc}"
        raise Problem(503, "WhatsApp unavailable", detail, retry_after=60) from exc
    now = datetime.now(UTC)
    return [
        TemplateStatusRecord(
            template=name, language=language, status=status, reason=reason, source="sync", updated_at=now
        )
        for name, language, status, reason in found
    ]


@router.post("/v1/whatsapp/templates/sync", response_model=SyncResult, responses=problems(409))
async def sync_template_statuses(request: Request, tenant: Tenant, store: StoreDep) -> SyncResult:
    """Read every template's status per language from Meta into the store, now."""
    records = await read_from_meta(request.app)
    changed = await WhatsAppTemplates(store.engine).put(tenant, records)
    return SyncResult(templates=len(records), changed=changed)


async def sync_forever(app: FastAPI, every: timedelta = SYNC_EVERY) -> None:
    """Until cancelled, in every API process: Meta's statuses for every tenant, now and then.
    Nothing runs without a business account configured."""
    config = app_config(app)
    if not (config.whatsapp_business_account_id and config.whatsapp_access_token):
        return
    while True:
        try:
            records = await read_from_meta(app)
            templates = WhatsAppTemplates(app.state.store.engine)
            changed = sum([await templates.put(tenant, records) for tenant in await templates.tenants()])
            if changed:
                log.info("WhatsApp template statuses: %d changed", changed)
        except Exception:  # Meta or the store is away: next time
            log.warning("WhatsApp template statuses could not be synced; trying again in %s", every)
        await asyncio.sleep(every.total_seconds())
