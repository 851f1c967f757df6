"""Staff-edited template variants: drafts, publishing, history, diff, rollback and send-time errors."""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.errors import StoreError
from store.tables import (
    PublishedTemplateRow,
    TemplateErrorRow,
    TemplateVersionRow,
    core,
    insert_for,
    utcnow,
)

# The tenant whose published versions every tenant falls back to before the template files.
GLOBAL = "*"
FIELD_ORDER = ("subject", "title", "body", "html", "buttons")


class UnknownTemplateVersion(StoreError, LookupError):
    """A version id that does not exist, or belongs to another tenant."""


class TemplateVersion(BaseModel):
    id: int
    tenant: str
    key: str
    locale: str
    channel: str
    version: int
    fields: dict[str, Any]
    author: str
    note: str | None = None
    created_at: datetime
    published_at: datetime | None = None
    published_by: str | None = None


class TemplateError(BaseModel):
    id: int
    tenant: str
    key: str
    locale: str
    channel: str
    version_id: int | None = None
    delivery_id: int | None = None
    error: str
    at: datetime


# Read on every send: built once on the Core tables, run with the tenant (and the key).
_VERSIONS, _LIVE = core(TemplateVersionRow), core(PublishedTemplateRow)
PUBLISHED = (
    select(_VERSIONS)
    .join(_LIVE, _LIVE.c.version_id == _VERSIONS.c.id)
    .where(_LIVE.c.tenant.in_([bindparam("tenant"), GLOBAL]))
)
PUBLISHED_OF_KEY = PUBLISHED.where(_LIVE.c.key == bindparam("key"))


def _version(row: TemplateVersionRow | Row[Any]) -> TemplateVersion:
    return TemplateVersion.model_validate(row, from_attributes=True)


async def save_draft(
    session: AsyncSession,
    tenant: str,
    key: str,
    locale: str,
    channel: str,
    fields: dict[str, Any],
    author: str,
    note: str | None = None,
) -> TemplateVersion:
    where = _variant(tenant, key, locale, channel)
    latest = await session.scalar(select(func.max(TemplateVersionRow.version)).where(*where))
    row = TemplateVersionRow(
        tenant=tenant,
        key=key,
        locale=locale,
        channel=channel,
        version=(latest or 0) + 1,
        fields=fields,
        author=author,
        note=note,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return _version(row)


def _variant(tenant: str, key: str, locale: str, channel: str) -> list[Any]:
    return [
        TemplateVersionRow.tenant == tenant,
        TemplateVersionRow.key == key,
        TemplateVersionRow.locale == locale,
        TemplateVersionRow.channel == channel,
    ]


async def _row(session: AsyncSession, tenant: str, version_id: int) -> TemplateVersionRow:
    row = await session.get(TemplateVersionRow, version_id)
    if row is None or row.tenant != tenant:
        raise UnknownTemplateVersion(f"no template version {version_id} for tenant {tenant!r}")
    return row


async def get_version(session: AsyncSession, tenant: str, version_id: int) -> TemplateVersion:
    return _version(await _row(session, tenant, version_id))


async def publish(session: AsyncSession, tenant: str, version_id: int, by: str) -> TemplateVersion:
    row = await _row(session, tenant, version_id)
    now = utcnow()
    row.published_at, row.published_by = now, by
    values = {"version_id": row.id, "published_at": now}
    insert = insert_for(session, PublishedTemplateRow).values(
        tenant=row.tenant, key=row.key, locale=row.locale, channel=row.channel, **values
    )
    await session.execute(
        insert.on_conflict_do_update(index_elements=["tenant", "key", "locale", "channel"], set_=values)
    )
    await session.flush()
    return _version(row)


async def rollback(session: AsyncSession, tenant: str, version_id: int, by: str) -> TemplateVersion:
    """Publish an old version's text again as a new version, so history only ever grows."""
    old = await _row(session, tenant, version_id)
    copy = await save_draft(
        session, tenant, old.key, old.locale, old.channel, dict(old.fields), by, f"rollback to v{old.version}"
    )
    return await publish(session, tenant, copy.id, by)


async def history(
    session: AsyncSession, tenant: str, key: str, locale: str, channel: str
) -> list[TemplateVersion]:
    query = (
        select(TemplateVersionRow)
        .where(*_variant(tenant, key, locale, channel))
        .order_by(TemplateVersionRow.version.desc())
    )
    return [_version(row) for row in (await session.execute(query)).scalars()]


async def published(session: AsyncSession, tenant: str, key: str | None = None) -> list[TemplateVersion]:
    """The live versions for a tenant: its own, else the global ones, per (key, locale, channel)."""
    query = PUBLISHED if key is None else PUBLISHED_OF_KEY
    live: dict[tuple[str, str, str], TemplateVersion] = {}
    for row in (await session.execute(query, {"tenant": tenant, "key": key})).all():
        where = (row.key, row.locale, row.channel)
        if row.tenant == tenant or where not in live:
            live[where] = _version(row)
    return list(live.values())


async def latest(session: AsyncSession, tenant: str) -> list[TemplateVersion]:
    """The newest version of each of a tenant's variants, published or not (the list page's drafts)."""
    newest = (
        select(func.max(TemplateVersionRow.id))
        .where(TemplateVersionRow.tenant == tenant)
        .group_by(
            TemplateVersionRow.key,
            TemplateVersionRow.locale,
            TemplateVersionRow.channel,
        )
    )
    query = select(TemplateVersionRow).where(TemplateVersionRow.id.in_(newest))
    return [_version(row) for row in (await session.execute(query)).scalars()]


async def record_error(session: AsyncSession, error: TemplateError) -> None:
    session.add(TemplateErrorRow(**error.model_dump(exclude={"id"})))


async def list_errors(session: AsyncSession, tenant: str, limit: int = 100) -> list[TemplateError]:
    query = (
        select(TemplateErrorRow)
        .where(TemplateErrorRow.tenant == tenant)
        .order_by(TemplateErrorRow.at.desc(), TemplateErrorRow.id.desc())
        .limit(limit)
    )
    return [
        TemplateError.model_validate(r, from_attributes=True)
        for r in (await session.execute(query)).scalars()
    ]


def as_text(fields: dict[str, Any]) -> list[str]:
    """A variant's fields as lines, in a fixed order, for diffing."""
    lines: list[str] = []
    for name in FIELD_ORDER:
        if name not in fields:
            continue
        value = fields[name]
        lines.append(f"[{name}]")
        lines.extend(value if isinstance(value, list) else str(value).splitlines())
    return lines


def diff(old: TemplateVersion | dict[str, Any], new: TemplateVersion, old_label: str = "") -> list[str]:
    """A unified diff of two versions (or of the file default and a version), line by line."""
    old_fields = old.fields if isinstance(old, TemplateVersion) else old
    label = old_label or (f"v{old.version}" if isinstance(old, TemplateVersion) else "default")
    return list(
        difflib.unified_diff(
            as_text(old_fields), as_text(new.fields), fromfile=label, tofile=f"v{new.version}", lineterm=""
        )
    )
