"""Staff users of the template editor: argon2 password hashes and roles editor < publisher < admin.

Sign-in is throttled per account: after MAX_FAILED_LOGINS wrong passwords in a row the account
refuses every password for LOCKOUT (counted in the store, so every API process and a restart agree).
argon2 runs in a worker thread, at most HASHING_AT_ONCE at a time (64 MiB each): a flood of sign-ins
waits for a hashing slot and never holds the event loop or a database transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.errors import StoreError
from store.tables import StaffUserRow, utcnow

_hasher = PasswordHasher()
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
HASHING_AT_ONCE = 2
_hashing: anyio.CapacityLimiter | None = None


class Role(StrEnum):
    VIEWER = "viewer"  # sees every page, changes nothing
    EDITOR = "editor"  # writes drafts, edits contacts, acknowledges work
    PUBLISHER = "publisher"  # also publishes and rolls back
    ADMIN = "admin"  # also changes settings and manages staff

    def can(self, needed: Role) -> bool:
        order = [Role.VIEWER, Role.EDITOR, Role.PUBLISHER, Role.ADMIN]
        return order.index(self) >= order.index(needed)


class StaffExists(StoreError):
    """create_staff was given an email that is already registered."""


class StaffLocked(StoreError):
    """Too many wrong passwords in a row: the account takes none until `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"locked until {until.isoformat()}")
        self.until = until


class StaffUser(BaseModel):
    id: int
    email: str
    tenant: str
    role: Role
    created_at: datetime
    # A session is valid only while it carries the user's current generation: signing out bumps it.
    session_generation: int = 0


def _user(row: StaffUserRow) -> StaffUser:
    return StaffUser.model_validate(row, from_attributes=True)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _limiter() -> anyio.CapacityLimiter:
    global _hashing
    if _hashing is None:
        _hashing = anyio.CapacityLimiter(HASHING_AT_ONCE)
    return _hashing


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password, limiter=_limiter())


async def verify_password(password_hash: str, password: str) -> bool:
    return await anyio.to_thread.run_sync(_verify, password_hash, password, limiter=_limiter())


async def create_staff(
    session: AsyncSession, email: str, tenant: str, role: Role, password: str
) -> StaffUser:
    email = normalize_email(email)
    if await session.scalar(select(StaffUserRow).where(StaffUserRow.email == email)) is not None:
        raise StaffExists(f"staff user {email!r} already exists")
    row = StaffUserRow(
        email=email,
        tenant=tenant,
        role=role.value,
        password_hash=await hash_password(password),
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return _user(row)


async def ensure_staff(
    session: AsyncSession, email: str, tenant: str, role: Role, password: str, *, replace: bool = True
) -> None:
    """Create the user; `replace`: or make the stored one match (else an existing user stays as is)."""
    row = await session.scalar(select(StaffUserRow).where(StaffUserRow.email == normalize_email(email)))
    if row is None:
        await create_staff(session, email, tenant, role, password)
        return
    if not replace:
        return
    row.tenant, row.role = tenant, role.value
    if not await verify_password(row.password_hash, password):
        row.password_hash = await hash_password(password)


@cache
def _dummy_hash() -> str:
    """Checked when the email is unknown, so a wrong address takes as long as a wrong password."""
    return _hasher.hash("no such staff user")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def authenticate(
    sessions: async_sessionmaker[AsyncSession], email: str, password: str, now: datetime | None = None
) -> StaffUser | None:
    """The user when the password is right; StaffLocked while the account is locked.

    Three short steps, never a transaction held open around argon2: read, verify in a thread, record.
    """
    now = now or utcnow()
    async with sessions() as session:
        row = await session.scalar(select(StaffUserRow).where(StaffUserRow.email == normalize_email(email)))
    if row is None:
        # In the thread too: the first call hashes the dummy password.
        await anyio.to_thread.run_sync(lambda: _verify(_dummy_hash(), password), limiter=_limiter())
        return None
    if row.locked_until is not None and row.locked_until > now:
        raise StaffLocked(row.locked_until)
    ok = await verify_password(row.password_hash, password)
    rehash = await hash_password(password) if ok and _hasher.check_needs_rehash(row.password_hash) else None
    async with sessions.begin() as session:
        mine = StaffUserRow.id == row.id
        if ok:
            values: dict[str, object] = {"failed_logins": 0, "locked_until": None}
            if rehash:
                values["password_hash"] = rehash
            await session.execute(update(StaffUserRow).where(mine).values(**values))
            return _user(row)
        failed = await session.scalar(
            update(StaffUserRow)
            .where(mine)
            .values(failed_logins=StaffUserRow.failed_logins + 1)
            .returning(StaffUserRow.failed_logins)
        )
        if failed is not None and failed >= MAX_FAILED_LOGINS:
            await session.execute(
                update(StaffUserRow).where(mine).values(failed_logins=0, locked_until=now + LOCKOUT)
            )
    return None


async def password_is(sessions: async_sessionmaker[AsyncSession], email: str, password: str) -> bool:
    """Whether this user exists with this password, counting no failure (a startup check)."""
    async with sessions() as session:
        row = await session.scalar(select(StaffUserRow).where(StaffUserRow.email == normalize_email(email)))
    return row is not None and await verify_password(row.password_hash, password)


async def end_sessions(session: AsyncSession, user_id: int) -> None:
    """Sign the user out everywhere: every session cookie issued so far stops being accepted."""
    await session.execute(
        update(StaffUserRow)
        .where(StaffUserRow.id == user_id)
        .values(session_generation=StaffUserRow.session_generation + 1)
    )


async def get_staff(session: AsyncSession, user_id: int) -> StaffUser | None:
    row = await session.get(StaffUserRow, user_id)
    return None if row is None else _user(row)


async def list_staff(session: AsyncSession, tenant: str) -> list[StaffUser]:
    query = select(StaffUserRow).where(StaffUserRow.tenant == tenant).order_by(StaffUserRow.email)
    return [_user(row) for row in (await session.execute(query)).scalars()]
