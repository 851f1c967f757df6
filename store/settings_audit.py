"""Tenant settings changed from the staff console: the change and its audit row in one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.settings import TenantSettings
from store import tenants
from store.tables import SettingsChangeRow, utcnow


class SettingsChange(BaseModel):
    by: str
    at: datetime
    before: dict[str, Any]
    after: dict[str, Any]

    def changed(self) -> list[tuple[str, Any, Any]]:
        """Each top-level setting that differs: its name, the old and the new value."""
        names = sorted(set(self.before) | set(self.after))
        return [
            (n, self.before.get(n), self.after.get(n))
            for n in names
            if self.before.get(n) != self.after.get(n)
        ]


async def change_settings(
    session: AsyncSession, tenant: str, settings: TenantSettings, by: str
) -> SettingsChange | None:
    """Store the new settings and who changed what; None (and no audit row) when nothing changed."""
    before = (await tenants.get_settings(session, tenant)).model_dump(mode="json")
    after = settings.model_dump(mode="json")
    if before == after:
        return None
    await tenants.put_settings(session, tenant, settings)
    row = SettingsChangeRow(tenant=tenant, by=by, at=utcnow(), before=before, after=after)
    session.add(row)
    return SettingsChange(by=by, at=row.at, before=before, after=after)


async def settings_history(session: AsyncSession, tenant: str, limit: int) -> list[SettingsChange]:
    query = (
        select(SettingsChangeRow)
        .where(SettingsChangeRow.tenant == tenant)
        .order_by(SettingsChangeRow.at.desc(), SettingsChangeRow.id.desc())
        .limit(limit)
    )
    return [
        SettingsChange.model_validate(row, from_attributes=True)
        for row in (await session.execute(query)).scalars()
    ]


class SettingsAudit:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def change(self, tenant: str, settings: TenantSettings, by: str) -> SettingsChange | None:
        async with self._sessions.begin() as session:
            return await change_settings(session, tenant, settings, by)

    async def history(self, tenant: str, limit: int = 20) -> list[SettingsChange]:
        async with self._sessions() as session:
            return await settings_history(session, tenant, limit)
