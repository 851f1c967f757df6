"""WhatsApp template statuses per tenant, template and language, and whether staff heard of them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from domain.whatsapp_templates import TemplateStatus
from store.tables import TenantRow, WhatsAppTemplateStatusRow, utcnow


class TemplateStatusRecord(BaseModel):
    template: str
    language: str
    status: TemplateStatus
    reason: str | None = None
    source: str  # sync | staff
    updated_at: datetime
    staff_told_at: datetime | None = None


def _record(row: WhatsAppTemplateStatusRow) -> TemplateStatusRecord:
    return TemplateStatusRecord.model_validate(row, from_attributes=True)


class WhatsAppTemplates:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def tenants(self) -> list[str]:
        """Every tenant, for a sync that writes Meta's statuses for each of them."""
        async with self._sessions() as session:
            return list(await session.scalars(select(TenantRow.id).order_by(TenantRow.id)))

    async def statuses(self, tenant: str, template: str) -> dict[str, TemplateStatus]:
        """Language code -> status of one template; {} when nothing is known of it."""
        query = select(WhatsAppTemplateStatusRow.language, WhatsAppTemplateStatusRow.status).where(
            WhatsAppTemplateStatusRow.tenant == tenant, WhatsAppTemplateStatusRow.template == template
        )
        async with self._sessions() as session:
            return {language: TemplateStatus(status) for language, status in await session.execute(query)}

    async def list(self, tenant: str) -> list[TemplateStatusRecord]:
        query = (
            select(WhatsAppTemplateStatusRow)
            .where(WhatsAppTemplateStatusRow.tenant == tenant)
            .order_by(WhatsAppTemplateStatusRow.template, WhatsAppTemplateStatusRow.language)
        )
        async with self._sessions() as session:
            return [_record(row) for row in (await session.execute(query)).scalars()]

    async def put(self, tenant: str, records: Sequence[TemplateStatusRecord]) -> int:
        """Record statuses; a status that changes clears `staff_told_at` (staff hear of it anew).
        Returns how many rows changed."""
        changed = 0
        async with self._sessions.begin() as session:
            for record in records:
                row = await session.scalar(
                    select(WhatsAppTemplateStatusRow).where(
                        WhatsAppTemplateStatusRow.tenant == tenant,
                        WhatsAppTemplateStatusRow.template == record.template,
                        WhatsAppTemplateStatusRow.language == record.language,
                    )
                )
                if row is None:
                    row = WhatsAppTemplateStatusRow(
                        tenant=tenant, template=record.template, language=record.language
                    )
                    session.add(row)
                elif (row.status, row.reason, row.source) == (
                    record.status.value,
                    record.reason,
                    record.source,
                ):
                    continue
                if row.status != record.status.value:
                    row.staff_told_at = None
                row.status, row.reason, row.source = record.status.value, record.reason, record.source
                row.updated_at = record.updated_at
                changed += 1
        return changed

    async def claim_staff_notice(self, tenant: str, template: str, language: str) -> bool:
        """True once per template, language and status that is not approved: the caller tells staff."""
        statement = (
            update(WhatsAppTemplateStatusRow)
            .where(
                WhatsAppTemplateStatusRow.tenant == tenant,
                WhatsAppTemplateStatusRow.template == template,
                WhatsAppTemplateStatusRow.language == language,
                WhatsAppTemplateStatusRow.status != TemplateStatus.APPROVED.value,
                WhatsAppTemplateStatusRow.staff_told_at.is_(None),
            )
            .values(staff_told_at=utcnow())
        )
        async with self._sessions.begin() as session:
            result = await session.execute(statement)
        return isinstance(result, CursorResult) and result.rowcount == 1
