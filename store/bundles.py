"""Messages held for their bundle (domain/bundles.py), and the send that takes them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.tables import BundleItemRow, insert_for


async def hold(
    session: AsyncSession, tenant: str, key: str, delivery_id: int, contact_id: str, input: dict[str, Any]
) -> None:
    """Hold a message for its bundle; holding it again (a retried send) changes nothing."""
    statement = insert_for(session, BundleItemRow).values(
        tenant=tenant, bundle_key=key, delivery_id=delivery_id, contact_id=contact_id, input=input
    )
    await session.execute(statement.on_conflict_do_nothing(index_elements=["delivery_id"]))


async def take(session: AsyncSession, tenant: str, key: str, claim: str) -> list[tuple[int, dict[str, Any]]]:
    """Every held message of the bundle nobody took yet, for the send named `claim`, oldest first;
    asked again by the same send (a retry), the same messages."""
    await session.execute(
        update(BundleItemRow)
        .where(
            BundleItemRow.tenant == tenant,
            BundleItemRow.bundle_key == key,
            BundleItemRow.claimed_by.is_(None),
        )
        .values(claimed_by=claim)
    )
    rows = await session.execute(
        select(BundleItemRow.delivery_id, BundleItemRow.input)
        .where(BundleItemRow.claimed_by == claim)
        .order_by(BundleItemRow.id)
    )
    return [(delivery_id, input) for delivery_id, input in rows]


async def forget(session: AsyncSession, claim: str) -> None:
    """The send recorded every message it took: their copies leave the store."""
    await session.execute(delete(BundleItemRow).where(BundleItemRow.claimed_by == claim))
