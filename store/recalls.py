"""Open recalls per patient: which recall workflows a booking of that patient must hold."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from store.tables import RecallRow, insert_for, utcnow


class OpenRecalls:
    """One row per (tenant, patient, recall type), `open` while its workflow runs."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def mark(self, tenant: str, patient_id: str, recall_type: str, *, open: bool) -> None:
        async with self._sessions.begin() as session:
            statement = insert_for(session, RecallRow).values(
                tenant=tenant, patient_id=patient_id, recall_type=recall_type, open=open, updated_at=utcnow()
            )
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["tenant", "patient_id", "recall_type"],
                    set_={"open": open, "updated_at": utcnow()},
                )
            )

    async def open_types(self, tenant: str, patient_id: str) -> list[str]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(RecallRow.recall_type)
                .where(RecallRow.tenant == tenant, RecallRow.patient_id == patient_id, RecallRow.open)
                .order_by(RecallRow.recall_type)
            )
            return list(rows)
