"""Open recalls per patient: which recall workflows a booking of that patient must hold."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from store.engine import reading
from store.tables import RecallRow, insert_for, utcnow

# Built once: it runs with every appointment's plan.
OPEN_TYPES = (
    select(RecallRow.recall_type)
    .where(
        RecallRow.tenant == bindparam("tenant"),
        RecallRow.patient_id == bindparam("patient_id"),
        RecallRow.open,
    )
    .order_by(RecallRow.recall_type)
)


class OpenRecalls:
    """One row per (tenant, patient, recall type), `open` while its workflow runs."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._reads = async_sessionmaker(reading(engine), expire_on_commit=False)

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
        """Read with every appointment's plan (activities/planning.py)."""
        async with self._reads() as session:
            rows = await session.scalars(OPEN_TYPES, {"tenant": tenant, "patient_id": patient_id})
            return list(rows)
