"""Staff users of the template editor: argon2 password hashes and roles editor < publisher < admin."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.errors import StoreError
from store.tables import StaffUserRow, utcnow

_hasher = PasswordHasher()


class Role(StrEnum):
    EDITOR = "editor"  # writes drafts
    PUBLISHER = "publisher"  # also publishes and rolls back
    ADMIN = "admin"  # also manages staff

    def can(self, needed: Role) -> bool:
        order = [Role.EDITOR, Role.PUBLISHER, Role.ADMIN]
        return order.index(self) >= order.index(needed)


class StaffExists(StoreError):
    """create_staff was given an email that is already registered."""


class StaffUser(BaseModel):
    id: int
    email: str
    tenant: str
    role: Role
    created_at: datetime


def _user(row: StaffUserRow) -> StaffUser:
    return StaffUser.model_validate(row, from_attributes=True)


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def create_staff(
    session: AsyncSession, email: str, tenant: str, role: Role, password: str
) -> StaffUser:
    email = normalize_email(email)
    if await session.scalar(select(StaffUserRow).where(StaffUserRow.email == email)) is not None:
        raise StaffExists(f"staff user {email!r} already exists")
    row = StaffUserRow(
        email=email, tenant=tenant, role=role.value, password_hash=_hasher.hash(password), created_at=utcnow()
    )
    session.add(row)
    await session.flush()
    return _user(row)


async def ensure_staff(session: AsyncSession, email: str, tenant: str, role: Role, password: str) -> None:
    """Create the user, or make the stored one match (the demo admin from the environment)."""
    row = await session.scalar(select(StaffUserRow).where(StaffUserRow.email == normalize_email(email)))
    if row is None:
        await create_staff(session, email, tenant, role, password)
        return
    row.tenant, row.role = tenant, role.value
    if not _verify(row.password_hash, password):
        row.password_hash = _hasher.hash(password)


@cache
def _dummy_hash() -> str:
    """Checked when the email is unknown, so a wrong address takes as long as a wrong password."""
    return _hasher.hash("no such staff user")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def authenticate(session: AsyncSession, email: str, password: str) -> StaffUser | None:
    row = await session.scalar(select(StaffUserRow).where(StaffUserRow.email == normalize_email(email)))
    if row is None:
        _verify(_dummy_hash(), password)
        return None
    if not _verify(row.password_hash, password):
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        row.password_hash = _hasher.hash(password)
    return _user(row)


async def get_staff(session: AsyncSession, user_id: int) -> StaffUser | None:
    row = await session.get(StaffUserRow, user_id)
    return None if row is None else _user(row)


async def list_staff(session: AsyncSession, tenant: str) -> list[StaffUser]:
    query = select(StaffUserRow).where(StaffUserRow.tenant == tenant).order_by(StaffUserRow.email)
    return [_user(row) for row in (await session.execute(query)).scalars()]
