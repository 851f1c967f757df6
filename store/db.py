"""The Store facade: one async engine, one short transaction per call."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from domain.contacts import Contact
from domain.deliveries import Delivery, DeliveryDraft, DeliveryOutcome
from domain.settings import TenantSettings
from store import deliveries, tenants
from store import events as _events
from store.engine import make_async_engine
from store.records import DeliveryAttempt, InboundEventKey


class Store:
    """Everything nudgeflow records, for the API and the worker alike."""

    def __init__(self, database_url: str) -> None:
        self.engine: AsyncEngine = make_async_engine(database_url)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def close(self) -> None:
        await self.engine.dispose()

    # Tenants

    async def ensure_tenant(self, tenant_id: str, name: str, api_key: str) -> None:
        async with self._sessions.begin() as session:
            await tenants.ensure_tenant(session, tenant_id, name, api_key)

    async def create_tenant(self, tenant_id: str, name: str) -> str:
        api_key = secrets.token_urlsafe(32)
        async with self._sessions.begin() as session:
            await tenants.create_tenant(session, tenant_id, name, api_key)
        return api_key

    async def tenant_for_api_key(self, api_key: str) -> str | None:
        async with self._sessions() as session:
            return await tenants.tenant_for_api_key(session, api_key)

    # Settings

    async def get_settings(self, tenant: str) -> TenantSettings:
        async with self._sessions() as session:
            return await tenants.get_settings(session, tenant)

    async def put_settings(self, tenant: str, settings: TenantSettings) -> TenantSettings:
        async with self._sessions.begin() as session:
            return await tenants.put_settings(session, tenant, settings)

    # Contacts

    async def upsert_contact(self, tenant: str, contact: Contact) -> None:
        await self.upsert_contacts(tenant, [contact])

    async def upsert_contacts(self, tenant: str, contacts: Sequence[Contact]) -> None:
        async with self._sessions.begin() as session:
            await tenants.upsert_contacts(session, tenant, contacts)

    async def get_contact(self, tenant: str, contact_id: str) -> Contact | None:
        async with self._sessions() as session:
            return await tenants.get_contact(session, tenant, contact_id)

    # Inbound events

    async def claim_events(
        self, tenant: str, events: Sequence[InboundEventKey]
    ) -> dict[tuple[str, str], str]:
        async with self._sessions.begin() as session:
            return await _events.claim_events(session, tenant, events)

    async def mark_events(self, tenant: str, keys: Sequence[tuple[str, str]], status: str) -> None:
        async with self._sessions.begin() as session:
            await _events.mark_events(session, tenant, keys, status)

    async def forget_events(self, tenant: str, keys: Sequence[tuple[str, str]]) -> None:
        async with self._sessions.begin() as session:
            await _events.forget_events(session, tenant, keys)

    # Deliveries

    async def begin_delivery(self, draft: DeliveryDraft) -> tuple[Delivery, bool]:
        async with self._sessions.begin() as session:
            return await deliveries.begin_delivery(session, draft)

    async def finish_delivery(self, delivery_id: int, outcome: DeliveryOutcome) -> Delivery:
        async with self._sessions.begin() as session:
            return await deliveries.finish_delivery(session, delivery_id, outcome)

    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        async with self._sessions() as session:
            return await deliveries.get_delivery(session, delivery_id)

    async def list_deliveries(
        self,
        tenant: str,
        *,
        subject: str | None = None,
        contact_id: str | None = None,
        status: str | None = None,
        workflow_id: str | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        async with self._sessions() as session:
            return await deliveries.list_deliveries(
                session,
                tenant,
                subject=subject,
                contact_id=contact_id,
                status=status,
                workflow_id=workflow_id,
                limit=limit,
            )

    async def list_attempts(self, delivery_id: int) -> list[DeliveryAttempt]:
        async with self._sessions() as session:
            return await deliveries.list_attempts(session, delivery_id)
