"""The waitlist as recorded: who waits for what, and which slot was offered to whom on which day.

`waitlist.joined` / `waitlist.left` only change these rows (they start no workflow); a slot's
workflow reads them in batches through activities/slots.py. An offer is recorded before its
message is sent, under a unique (slot, entry), so a retried batch offers nobody twice, and the
per-patient daily cap counts these rows on the patient's own calendar day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Index, Integer, String, UniqueConstraint, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from domain.events import WaitlistJoined
from domain.waitlist import WaitlistEntry
from store.tables import Base, insert_for, utcnow


class WaitlistEntryRow(Base):
    """A patient waiting for an earlier time; `left_at` once they left (or were booked)."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        UniqueConstraint("tenant", "entry_id"),
        Index("ix_waitlist_entries_tenant_left_at", "tenant", "left_at", "joined_at"),
        Index("ix_waitlist_entries_tenant_patient_id", "tenant", "patient_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(200))
    entry_id: Mapped[str] = mapped_column(String(200))
    patient_id: Mapped[str] = mapped_column(String(200))
    service_code: Mapped[str | None] = mapped_column(String(200))
    doctor_id: Mapped[str | None] = mapped_column(String(200))
    location_id: Mapped[str | None] = mapped_column(String(200))
    earliest: Mapped[datetime | None]
    latest: Mapped[datetime | None]
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None]


class WaitlistOfferRow(Base):
    """A slot offered to an entry, in which batch, on which of the patient's local days."""

    __tablename__ = "waitlist_offers"
    __table_args__ = (
        UniqueConstraint("tenant", "slot_id", "entry_id"),
        Index("ix_waitlist_offers_tenant_patient_id", "tenant", "patient_id", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(200))
    slot_id: Mapped[str] = mapped_column(String(200))
    entry_id: Mapped[str] = mapped_column(String(200))
    patient_id: Mapped[str] = mapped_column(String(200))
    day: Mapped[str] = mapped_column(String(10))
    batch: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)


def _entry(row: WaitlistEntryRow) -> WaitlistEntry:
    return WaitlistEntry.model_validate(row, from_attributes=True)


class Waitlist:
    """The waitlist over the Store's engine, one short transaction per call, always within a tenant."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def join(self, tenant: str, joined: WaitlistJoined, at: datetime) -> None:
        """Add the entry, or replace what it asks for; joining again after leaving rejoins."""
        values = {
            "tenant": tenant,
            "entry_id": joined.entry_id,
            "patient_id": joined.patient.id,
            "service_code": joined.service_code,
            "doctor_id": joined.doctor_id,
            "location_id": joined.location_id,
            "earliest": joined.earliest,
            "latest": joined.latest,
            "joined_at": at,
            "left_at": None,
        }
        async with self._sessions.begin() as session:
            insert = insert_for(session, WaitlistEntryRow).values(**values)
            changed = {k: v for k, v in values.items() if k not in ("tenant", "entry_id", "joined_at")}
            await session.execute(
                insert.on_conflict_do_update(index_elements=["tenant", "entry_id"], set_=changed)
            )

    async def leave(self, tenant: str, entry_id: str, at: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(WaitlistEntryRow)
                .where(
                    WaitlistEntryRow.tenant == tenant,
                    WaitlistEntryRow.entry_id == entry_id,
                    WaitlistEntryRow.left_at.is_(None),
                )
                .values(left_at=at)
            )

    async def waiting(self, tenant: str, slot_id: str) -> list[WaitlistEntry]:
        """Open entries not yet offered this slot, oldest first (domain/waitlist.py picks who suits)."""
        offered = select(WaitlistOfferRow.entry_id).where(
            WaitlistOfferRow.tenant == tenant, WaitlistOfferRow.slot_id == slot_id
        )
        query = (
            select(WaitlistEntryRow)
            .where(
                WaitlistEntryRow.tenant == tenant,
                WaitlistEntryRow.left_at.is_(None),
                WaitlistEntryRow.entry_id.not_in(offered),
            )
            .order_by(WaitlistEntryRow.joined_at, WaitlistEntryRow.entry_id)
        )
        async with self._sessions() as session:
            return [_entry(row) for row in (await session.execute(query)).scalars()]

    async def offered(self, tenant: str, slot_id: str, batch: int) -> list[str]:
        """The entries a batch of this slot offered already (a retried batch returns the same)."""
        query = (
            select(WaitlistOfferRow.entry_id)
            .where(
                WaitlistOfferRow.tenant == tenant,
                WaitlistOfferRow.slot_id == slot_id,
                WaitlistOfferRow.batch == batch,
            )
            .order_by(WaitlistOfferRow.id)
        )
        async with self._sessions() as session:
            return list((await session.execute(query)).scalars())

    async def reserve(
        self,
        tenant: str,
        slot_id: str,
        batch: int,
        candidates: Sequence[tuple[WaitlistEntry, str]],
        *,
        limit: int,
        per_day: int,
    ) -> tuple[list[str], list[str]]:
        """Record offers to the first `limit` candidates (entry, the patient's local day) still under
        the daily cap; (offered, capped) entry ids. One patient gets one offer of a slot."""
        offered: list[str] = []
        capped: list[str] = []
        patients: set[str] = set()
        async with self._sessions.begin() as session:
            for entry, day in candidates:
                if len(offered) >= limit:
                    break
                if entry.patient_id in patients:
                    continue
                # PostgreSQL: two slots counting the same patient's day wait for each other here.
                await session.execute(
                    select(WaitlistEntryRow.id)
                    .where(WaitlistEntryRow.tenant == tenant, WaitlistEntryRow.patient_id == entry.patient_id)
                    .with_for_update()
                )
                today = await session.scalar(
                    select(func.count(WaitlistOfferRow.id)).where(
                        WaitlistOfferRow.tenant == tenant,
                        WaitlistOfferRow.patient_id == entry.patient_id,
                        WaitlistOfferRow.day == day,
                    )
                )
                if (today or 0) >= per_day:
                    capped.append(entry.entry_id)
                    continue
                patients.add(entry.patient_id)
                session.add(
                    WaitlistOfferRow(
                        tenant=tenant,
                        slot_id=slot_id,
                        entry_id=entry.entry_id,
                        patient_id=entry.patient_id,
                        day=day,
                        batch=batch,
                    )
                )
                offered.append(entry.entry_id)
        return offered, capped

    async def offers_today(self, tenant: str, patient_id: str, day: str) -> int:
        query = select(func.count(WaitlistOfferRow.id)).where(
            WaitlistOfferRow.tenant == tenant,
            WaitlistOfferRow.patient_id == patient_id,
            WaitlistOfferRow.day == day,
        )
        async with self._sessions() as session:
            return int(await session.scalar(query) or 0)

    async def entries(self, tenant: str, entry_ids: Sequence[str]) -> list[WaitlistEntry]:
        query = select(WaitlistEntryRow).where(
            WaitlistEntryRow.tenant == tenant, WaitlistEntryRow.entry_id.in_(list(entry_ids))
        )
        async with self._sessions() as session:
            rows = {row.entry_id: _entry(row) for row in (await session.execute(query)).scalars()}
        return [rows[entry_id] for entry_id in entry_ids if entry_id in rows]
