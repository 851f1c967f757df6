"""Tenants with their hashed API keys, their settings and their contacts."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.contacts import Contact
from domain.settings import TenantSettings
from store.errors import TenantExists, UnknownTenant
from store.records import to_contact, to_settings
from store.tables import ContactRow, TenantRow, TenantSettingsRow, insert_for, utcnow


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


async def ensure_tenant(
    session: AsyncSession, tenant_id: str, name: str, api_key: str, *, replace: bool = True
) -> None:
    """Create the tenant; `replace`: or give the stored one this name and key (else it stays as is)."""
    values = {"name": name, "api_key_hash": hash_api_key(api_key)}
    insert = insert_for(session, TenantRow).values(id=tenant_id, created_at=utcnow(), **values)
    if not replace:
        await session.execute(insert.on_conflict_do_nothing(index_elements=["id"]))
        return
    await session.execute(insert.on_conflict_do_update(index_elements=["id"], set_=values))


async def create_tenant(session: AsyncSession, tenant_id: str, name: str, api_key: str) -> None:
    insert = insert_for(session, TenantRow).values(
        id=tenant_id, name=name, api_key_hash=hash_api_key(api_key), created_at=utcnow()
    )
    inserted = await session.execute(
        insert.on_conflict_do_nothing(index_elements=["id"]).returning(TenantRow.id)
    )
    if inserted.scalar_one_or_none() is None:
        raise TenantExists(tenant_id)


async def tenant_for_api_key(session: AsyncSession, api_key: str) -> str | None:
    wanted = hash_api_key(api_key)
    row = (await session.execute(select(TenantRow).where(TenantRow.api_key_hash == wanted))).scalar()
    if row is None or not hmac.compare_digest(row.api_key_hash, wanted):
        return None
    return row.id


async def get_settings(session: AsyncSession, tenant: str) -> TenantSettings:
    return to_settings(await session.get(TenantSettingsRow, tenant))


async def put_settings(session: AsyncSession, tenant: str, settings: TenantSettings) -> TenantSettings:
    if await session.get(TenantRow, tenant) is None:
        raise UnknownTenant(tenant)
    values = {"data": settings.model_dump(mode="json"), "updated_at": utcnow()}
    insert = insert_for(session, TenantSettingsRow).values(tenant=tenant, **values)
    await session.execute(insert.on_conflict_do_update(index_elements=["tenant"], set_=values))
    return to_settings(await session.get(TenantSettingsRow, tenant, populate_existing=True))


async def upsert_contacts(session: AsyncSession, tenant: str, contacts: Sequence[Contact]) -> None:
    await upsert_tenants_contacts(session, [(tenant, contacts)])


async def upsert_tenants_contacts(
    session: AsyncSession, batches: Sequence[tuple[str, Sequence[Contact]]]
) -> None:
    """Each tenant's contacts, in one statement for all of them."""
    # The last copy of a repeated id wins; PostgreSQL refuses to update one row twice per statement.
    latest = {(tenant, contact.id): contact for tenant, contacts in batches for contact in contacts}
    if not latest:
        return
    now = utcnow()
    rows = [
        {"tenant": tenant, "id": contact_id, "data": contact.model_dump(mode="json"), "updated_at": now}
        for (tenant, contact_id), contact in sorted(latest.items())  # two batches lock rows alike
    ]
    # One statement, the rows as parameters: SQLAlchemy compiles it once per process, not per call.
    insert = insert_for(session, ContactRow)
    upsert = insert.on_conflict_do_update(
        index_elements=["tenant", "id"],
        set_={"data": insert.excluded.data, "updated_at": insert.excluded.updated_at},
    )
    await session.execute(upsert, rows)


async def get_contact(session: AsyncSession, tenant: str, contact_id: str) -> Contact | None:
    row = await session.get(ContactRow, (tenant, contact_id))
    return None if row is None else to_contact(row)
