"""The Store facade: one async engine, one short transaction per call."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.contacts import Contact
from domain.deliveries import Delivery, DeliveryDraft, DeliveryOutcome, DeliveryStatus
from domain.settings import TenantSettings
from store import bundles, callbacks, deliveries, staff, templates, tenants
from store import events as _events
from store.callbacks import DeliveryEvent
from store.engine import make_async_engine, reading, sqlite_file
from store.group_commit import GroupCommit, Together
from store.records import DeadEvent, DeliveryAttempt, InboundEventKey, Lease, PendingEvent
from store.staff import Role, StaffUser
from store.telegram_offers import record_offer
from store.templates import TemplateError, TemplateVersion
from store.write_lock import WriteLock


@dataclass(frozen=True)
class BeforeSending:
    """The contact as the router sees it (None for a staff member: sent as given), when it was
    offered the Telegram bot (None: never), and the tenant's published versions of the template."""

    contact: Contact | None
    telegram_offered_at: datetime | None
    templates: list[TemplateVersion]
    # What the cadence counts (`RecentSends`), when the send asked: (moment due, category), oldest first.
    recent_sends: list[tuple[datetime, str]] | None = None


@dataclass(frozen=True)
class RecentSends:
    """The cadence's question (activities/cadence.py): a contact's sends in these categories since then."""

    contact_id: str
    categories: list[str]
    since: datetime


class Store:
    """Everything nudgeflow records, for the API and the worker alike."""

    def __init__(self, database_url: str) -> None:
        self.engine: AsyncEngine = make_async_engine(database_url)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._reads = async_sessionmaker(reading(self.engine), expire_on_commit=False)
        # The writes on the hot paths (events in, deliveries out) commit together under load.
        database = sqlite_file(database_url)
        self._write_lock = WriteLock(database) if database else None
        self._group = GroupCommit(self._sessions, lock=self._write_lock)

    async def close(self) -> None:
        await self.engine.dispose()
        if self._write_lock:
            self._write_lock.close()

    # Tenants

    async def ensure_tenant(self, tenant_id: str, name: str, api_key: str, *, replace: bool = True) -> None:
        async with self._sessions.begin() as session:
            await tenants.ensure_tenant(session, tenant_id, name, api_key, replace=replace)

    async def create_tenant(self, tenant_id: str, name: str) -> str:
        api_key = secrets.token_urlsafe(32)
        async with self._sessions.begin() as session:
            await tenants.create_tenant(session, tenant_id, name, api_key)
        return api_key

    async def tenant_for_api_key(self, api_key: str) -> str | None:
        async with self._reads() as session:
            return await tenants.tenant_for_api_key(session, api_key)

    # Settings

    async def get_settings(self, tenant: str) -> TenantSettings:
        async with self._reads() as session:
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
        async with self._reads() as session:
            return await tenants.get_contact(session, tenant, contact_id)

    # Inbound events

    async def claim_events(
        self,
        tenant: str,
        events: Sequence[InboundEventKey],
        contacts: Sequence[Contact] = (),
        lease: Lease | None = None,
    ) -> dict[tuple[str, str], str]:
        """Claim events by (source, id) and store the contacts they carry, in one transaction; with
        the claims of concurrent requests, in one statement each (store/group_commit.Together)."""
        return await self._group.run(
            Together("claim", _events.Claim(tenant, events, lease, contacts), _claim_all)
        )

    async def mark_events(self, tenant: str, keys: Sequence[tuple[str, str]], status: str) -> None:
        """Settle delivered events; with the relay's other settlements waiting now, in one UPDATE."""
        await self._group.run(
            Together(("mark", status), (tenant, keys), partial(_events.mark_many, status=status))
        )

    async def pending_events(self, received_before: datetime, limit: int = 500) -> list[PendingEvent]:
        async with self._reads() as session:
            return await _events.pending_events(session, received_before, limit)

    async def purge_event_payloads(self, settled_before: datetime) -> int:
        async with self._sessions.begin() as session:
            return await _events.purge_payloads(session, settled_before)

    # The relay's leases and dead letters (store/events.py)

    async def take_events(
        self, lease: Lease, *, per_tenant: int, limit: int, skip_tenants: Sequence[str] = ()
    ) -> list[PendingEvent]:
        return await self._group.run(
            lambda session: _events.take_events(
                session, lease, per_tenant=per_tenant, limit=limit, skip_tenants=skip_tenants
            )
        )

    async def lease_events(
        self, tenant: str, keys: Sequence[tuple[str, str]], lease: Lease
    ) -> set[tuple[str, str]]:
        return await self._group.run(lambda session: _events.lease_events(session, tenant, keys, lease))

    async def renew_leases(self, lease: Lease) -> None:
        await self._group.run(lambda session: _events.renew_leases(session, lease))

    async def release_leases(self, owner: str) -> None:
        await self._group.run(lambda session: _events.release_leases(session, owner))

    async def refuse_event(
        self, tenant: str, key: tuple[str, str], reason: str, max_refusals: int
    ) -> tuple[int, bool]:
        return await self._group.run(
            lambda session: _events.refuse_event(session, tenant, key, reason, max_refusals)
        )

    async def bury_event(self, tenant: str, key: tuple[str, str], reason: str) -> None:
        await self._group.run(lambda session: _events.bury_event(session, tenant, key, reason))

    async def dead_events(self, tenant: str, limit: int = 100) -> list[DeadEvent]:
        async with self._reads() as session:
            return await _events.dead_events(session, tenant, limit)

    async def revive_events(self, tenant: str, event_ids: Sequence[str]) -> list[str]:
        async with self._sessions.begin() as session:
            return await _events.revive_events(session, tenant, event_ids)

    # Deliveries

    async def begin_delivery(
        self, draft: DeliveryDraft, at: DeliveryOutcome | None = None
    ) -> tuple[Delivery, bool]:
        """The message's row, and whether this call wrote it (else an earlier attempt's is returned).
        `at`: a new row starts there (claimed `sending`, or an outcome) instead of `planned`."""
        return await self._group.run(Together("begin", (draft, at), deliveries.begin_many))

    async def finish_delivery(
        self, delivery_id: int, outcome: DeliveryOutcome, *, offered_to: tuple[str, str] | None = None
    ) -> Delivery:
        """The outcome; with `offered_to` (tenant, contact), in the same commit, that the message
        carried the Telegram bot's link to that contact (it is offered once)."""

        if offered_to is None:  # with the other sends finishing now, in one go (finish_many)
            return await self._group.run(Together("finish", (delivery_id, outcome), deliveries.finish_many))

        async def finish(session: AsyncSession) -> Delivery:
            finished = await deliveries.finish_delivery(session, delivery_id, outcome)
            await record_offer(session, *offered_to)
            return finished

        return await self._group.run(finish)

    async def move_delivery(
        self,
        delivery_id: int,
        outcome: DeliveryOutcome,
        expected: Sequence[DeliveryStatus],
        *,
        attempt_status: DeliveryStatus | None = None,
        keep_updated_at: bool = False,
    ) -> Delivery | None:
        return await self._group.run(
            lambda session: deliveries.move_delivery(
                session,
                delivery_id,
                outcome,
                expected=expected,
                attempt_status=attempt_status,
                keep_updated_at=keep_updated_at,
            )
        )

    async def claim_sending(
        self,
        delivery_id: int,
        expected: DeliveryStatus,
        channel: str,
        provider: str,
        body: str,
        until: datetime | None = None,
    ) -> Delivery | None:
        return await self._group.run(
            lambda session: deliveries.claim_sending(
                session, delivery_id, expected, channel, provider, body, until
            )
        )

    async def sending_alike(
        self, row: Delivery, provider_ids: Sequence[str] = ()
    ) -> tuple[list[tuple[Delivery, Contact | None]], set[str]]:
        async with self._reads() as session:
            return await deliveries.sending_alike(session, row, provider_ids)

    async def delivery_by_key(self, idempotency_key: str) -> Delivery | None:
        async with self._reads() as session:
            return await deliveries.delivery_by_key(session, idempotency_key)

    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        async with self._reads() as session:
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
        subjects: Sequence[str] | None = None,
        subject_prefix: str | None = None,
    ) -> list[Delivery]:
        async with self._reads() as session:
            return await deliveries.list_deliveries(
                session,
                tenant,
                subject=subject,
                contact_id=contact_id,
                status=status,
                workflow_id=workflow_id,
                limit=limit,
                subjects=subjects,
                subject_prefix=subject_prefix,
            )

    async def list_attempts(self, delivery_id: int) -> list[DeliveryAttempt]:
        async with self._reads() as session:
            return await deliveries.list_attempts(session, delivery_id)

    # Templates edited by staff (store/templates.py)

    async def save_template_draft(
        self, tenant: str, key: str, locale: str, channel: str, fields: dict[str, Any], author: str
    ) -> TemplateVersion:
        async with self._sessions.begin() as session:
            return await templates.save_draft(session, tenant, key, locale, channel, fields, author)

    async def publish_template(self, tenant: str, version_id: int, by: str) -> TemplateVersion:
        async with self._sessions.begin() as session:
            return await templates.publish(session, tenant, version_id, by)

    async def rollback_template(self, tenant: str, version_id: int, by: str) -> TemplateVersion:
        async with self._sessions.begin() as session:
            return await templates.rollback(session, tenant, version_id, by)

    async def template_version(self, tenant: str, version_id: int) -> TemplateVersion:
        async with self._reads() as session:
            return await templates.get_version(session, tenant, version_id)

    async def template_history(
        self, tenant: str, key: str, locale: str, channel: str
    ) -> list[TemplateVersion]:
        async with self._reads() as session:
            return await templates.history(session, tenant, key, locale, channel)

    async def published_templates(self, tenant: str, key: str | None = None) -> list[TemplateVersion]:
        async with self._reads() as session:
            return await templates.published(session, tenant, key)

    async def latest_templates(self, tenant: str) -> list[TemplateVersion]:
        async with self._reads() as session:
            return await templates.latest(session, tenant)

    async def record_template_error(self, error: TemplateError) -> None:
        async with self._sessions.begin() as session:
            await templates.record_error(session, error)

    async def template_errors(self, tenant: str, limit: int = 100) -> list[TemplateError]:
        async with self._reads() as session:
            return await templates.list_errors(session, tenant, limit)

    # Staff users (store/staff.py)

    async def create_staff(self, email: str, tenant: str, role: Role, password: str) -> StaffUser:
        async with self._sessions.begin() as session:
            return await staff.create_staff(session, email, tenant, role, password)

    async def ensure_staff(
        self, email: str, tenant: str, role: Role, password: str, *, replace: bool = True
    ) -> None:
        async with self._sessions.begin() as session:
            await staff.ensure_staff(session, email, tenant, role, password, replace=replace)

    async def authenticate_staff(self, email: str, password: str) -> StaffUser | None:
        """The user, None for a wrong email or password; StaffLocked while the account is locked."""
        return await staff.authenticate(self._sessions, email, password)

    async def staff_password_is(self, email: str, password: str) -> bool:
        return await staff.password_is(self._sessions, email, password)

    async def end_staff_sessions(self, user_id: int) -> None:
        async with self._sessions.begin() as session:
            await staff.end_sessions(session, user_id)

    async def get_staff(self, user_id: int) -> StaffUser | None:
        async with self._reads() as session:
            return await staff.get_staff(session, user_id)

    async def list_staff(self, tenant: str) -> list[StaffUser]:
        async with self._reads() as session:
            return await staff.list_staff(session, tenant)

    # Channels: status callbacks and what providers taught us about contacts (store/callbacks.py)

    async def record_status(
        self,
        provider: str,
        provider_message_id: str,
        status: DeliveryStatus,
        *,
        detail: str | None = None,
        cost: float | None = None,
        at: datetime | None = None,
    ) -> Delivery | None:
        async with self._sessions.begin() as session:
            return await callbacks.record_status(
                session, provider, provider_message_id, status, detail=detail, cost=cost, at=at
            )

    async def list_delivery_events(self, delivery_id: int) -> list[DeliveryEvent]:
        async with self._reads() as session:
            return await callbacks.list_events(session, delivery_id)

    async def before_sending(
        self, tenant: str, template: str, contact: Contact | None, recent: RecentSends | None = None
    ) -> BeforeSending:
        """What a send reads before it renders, in one session (one connection, not four)."""
        async with self._reads() as session:
            found: Contact | None = None
            offered_at: datetime | None = None
            if contact is not None:
                found, offered_at = await callbacks.contact_and_offer(session, tenant, contact)
            published = await templates.published(session, tenant, template)
            sent = None
            if recent is not None:
                sent = await deliveries.recent_sends(
                    session, tenant, recent.contact_id, recent.categories, recent.since
                )
        return BeforeSending(
            contact=found, telegram_offered_at=offered_at, templates=published, recent_sends=sent
        )

    async def contact_for_sending(self, tenant: str, contact: Contact) -> Contact:
        """The stored contact (or the given one) with the engine's learned channel state on top."""
        async with self._reads() as session:
            return await callbacks.contact_for_sending(session, tenant, contact)

    async def link_telegram(self, tenant: str, contact_id: str, chat_id: str) -> None:
        async with self._sessions.begin() as session:
            await callbacks.link_telegram(session, tenant, contact_id, chat_id)

    async def bind_telegram(self, tenant: str, contact_id: str, chat_id: str) -> bool:
        async with self._sessions.begin() as session:
            return await callbacks.bind_telegram(session, tenant, contact_id, chat_id)

    async def open_whatsapp_window(self, phone: str, until: datetime) -> int:
        """Open the window for every contact with this phone; how many there were."""
        async with self._sessions.begin() as session:
            return await callbacks.open_whatsapp_window_for_phone(session, phone, until)

    async def mark_dead_address(self, tenant: str, contact_id: str, address: str) -> None:
        async with self._sessions.begin() as session:
            await callbacks.mark_dead(session, tenant, contact_id, address)

    # Bundles (a staff digest, a guardian's reminder for several children)

    async def hold_for_bundle(
        self, tenant: str, key: str, delivery_id: int, contact_id: str, input: dict[str, Any]
    ) -> None:
        async with self._sessions.begin() as session:
            await bundles.hold(session, tenant, key, delivery_id, contact_id, input)

    async def take_bundle(self, tenant: str, key: str, claim: str) -> list[tuple[int, dict[str, Any]]]:
        async with self._sessions.begin() as session:
            return await bundles.take(session, tenant, key, claim)

    async def forget_bundle(self, claim: str) -> None:
        async with self._sessions.begin() as session:
            await bundles.forget(session, claim)


async def _claim_all(session: AsyncSession, claims: list[_events.Claim]) -> list[dict[tuple[str, str], str]]:
    """Concurrent requests' claims: their contacts in one statement, their events in one more."""
    await tenants.upsert_tenants_contacts(session, [(claim.tenant, claim.contacts) for claim in claims])
    return await _events.claim_many(session, claims)
