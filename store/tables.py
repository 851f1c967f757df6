"""The ORM tables: what is recorded about tenants, contacts, inbound events and deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime both ways; SQLite keeps no offset, so reads get UTC attached."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} is ambiguous; pass an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JsonDocument = JSON().with_variant(postgresql.JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime, dict[str, Any]: JsonDocument}


class TenantRow(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TenantSettingsRow(Base):
    __tablename__ = "tenant_settings"

    tenant: Mapped[str] = mapped_column(
        String(200), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContactRow(Base):
    __tablename__ = "contacts"

    tenant: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    data: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundEventRow(Base):
    """An accepted event, unique per tenant by (source, id); while `received`, the relay's outbox."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        UniqueConstraint("tenant", "source", "event_id"),
        Index("ix_inbound_events_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(500))
    event_id: Mapped[str] = mapped_column(String(500))
    type: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str | None] = mapped_column(String(500))
    workflow_id: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    routed_at: Mapped[datetime | None]
    # The event as its workflow receives it, kept until the relay has delivered it.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    # The relay holding it (api/relay.py), until when; another API process takes it after that.
    leased_by: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    # Times Temporal refused it and why, last; past the limit it is `dead` (GET /v1/events/dead).
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reason: Mapped[str | None] = mapped_column(Text)


class DeliveryRow(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_tenant_subject", "tenant", "subject"),
        Index("ix_deliveries_tenant_contact_id", "tenant", "contact_id"),
        Index("ix_deliveries_tenant_status", "tenant", "status"),
        Index("ix_deliveries_tenant_created_at", "tenant", "created_at"),
        Index("ix_deliveries_tenant_contact_scheduled", "tenant", "contact_id", "scheduled_for"),
        # The cost report reads a tenant's messages by the day they left.
        Index("ix_deliveries_tenant_sent_at", "tenant", "sent_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(200))
    idempotency_key: Mapped[str] = mapped_column(String(500), unique=True)
    subject: Mapped[str] = mapped_column(String(500))
    workflow_id: Mapped[str] = mapped_column(String(500))
    step: Mapped[str] = mapped_column(String(200))
    contact_id: Mapped[str] = mapped_column(String(200))
    template: Mapped[str] = mapped_column(String(200))
    scheduled_for: Mapped[datetime]
    channel: Mapped[str | None] = mapped_column(String(50))
    provider: Mapped[str | None] = mapped_column(String(100))
    locale: Mapped[str | None] = mapped_column(String(50))
    body: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(500))
    cost: Mapped[float | None] = mapped_column(Float)
    sent_at: Mapped[datetime | None]
    # While `sending`: when the attempt that claimed it ends (after that it records nothing more).
    sending_until: Mapped[datetime | None]
    # The published template version it went out with; None for the file default.
    template_version_id: Mapped[int | None] = mapped_column(Integer)
    # The consent category the cadence counts it under (domain/cadence.py); None for staff messages.
    category: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BundleItemRow(Base):
    """A message held for its bundle (domain/bundles.py) until the bundle's workflow sends it.

    One per delivery; `claimed_by` names the send that took it. Deleted once that send is recorded,
    and with its contact on erasure: `input` holds the message with the contact's details.
    """

    __tablename__ = "bundle_items"
    __table_args__ = (Index("ix_bundle_items_tenant_key", "tenant", "bundle_key", "claimed_by"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(200))
    bundle_key: Mapped[str] = mapped_column(String(500))
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), unique=True)
    contact_id: Mapped[str] = mapped_column(String(200))
    input: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    claimed_by: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryAttemptRow(Base):
    __tablename__ = "delivery_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "attempt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(50))
    provider: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(500))
    cost: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryEventRow(Base):
    """A provider's status callback (delivered, read, failed), once per message and status."""

    __tablename__ = "delivery_events"
    __table_args__ = (UniqueConstraint("provider", "provider_message_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(100))
    provider_message_id: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)
    cost: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ContactChannelRow(Base):
    """What the engine learned about a contact's channels; survives the backend's contact upserts."""

    __tablename__ = "contact_channels"

    tenant: Mapped[str] = mapped_column(String(200), primary_key=True)
    contact_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    telegram_chat_id: Mapped[str | None] = mapped_column(String(100))
    whatsapp_window_until: Mapped[datetime | None]
    dead_addresses: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the bot's deep link went to the contact on another channel: it is offered once.
    telegram_offered_at: Mapped[datetime | None]


# Status callbacks name the provider's message id: find its delivery without a scan.
Index("ix_deliveries_provider_message_id", DeliveryRow.provider_message_id)


def core(table: type[Base]) -> Table:
    """The Core table of a mapped class: for statements on hot paths, without the ORM's entity
    machinery (a Core UPDATE ... RETURNING costs ~0.5 ms less than the ORM's, which evaluates its
    WHERE against the session's objects)."""
    return Base.metadata.tables[table.__tablename__]


def insert_for(session: AsyncSession, table: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say ON CONFLICT, in the dialect the session is bound to.

    Built on the Core table, not the ORM class: executed with a list of rows it is one cached
    statement (executemany), without the ORM's bulk-insert bookkeeping.
    """
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(core(table))
    return sqlite.insert(core(table))


class TemplateVersionRow(Base):
    """One saved text of a template variant; tenant "*" holds the defaults every tenant falls back to."""

    __tablename__ = "template_versions"
    __table_args__ = (
        UniqueConstraint("tenant", "key", "locale", "channel", "version"),
        Index("ix_template_versions_tenant_key", "tenant", "key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(50))
    channel: Mapped[str] = mapped_column(String(50))
    version: Mapped[int] = mapped_column(Integer)
    fields: Mapped[dict[str, Any]]
    author: Mapped[str] = mapped_column(String(320))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    published_by: Mapped[str | None] = mapped_column(String(320))


class PublishedTemplateRow(Base):
    """Which version of a variant is live: one row per tenant, key, locale and channel."""

    __tablename__ = "published_templates"

    tenant: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    locale: Mapped[str] = mapped_column(String(50), primary_key=True)
    channel: Mapped[str] = mapped_column(String(50), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("template_versions.id", ondelete="CASCADE"))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)


class TemplateErrorRow(Base):
    """A published template that failed at send time; the message went out with the file default."""

    __tablename__ = "template_errors"
    __table_args__ = (Index("ix_template_errors_tenant_at", "tenant", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(50))
    channel: Mapped[str] = mapped_column(String(50))
    version_id: Mapped[int | None] = mapped_column(Integer)
    delivery_id: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffUserRow(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    tenant: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Sign-in throttling and sign-out everywhere (store/staff.py).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AcknowledgementRow(Base):
    """A work-queue item a staff user has dealt with: who and when, once per tenant, queue and item."""

    __tablename__ = "acknowledgements"
    __table_args__ = (UniqueConstraint("tenant", "queue", "item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(200))
    queue: Mapped[str] = mapped_column(String(30))
    item: Mapped[str] = mapped_column(String(500))
    by: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class SettingsChangeRow(Base):
    """A change of a tenant's settings: who, when, and the whole document before and after."""

    __tablename__ = "settings_changes"
    __table_args__ = (Index("ix_settings_changes_tenant_at", "tenant", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(200))
    by: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    before: Mapped[dict[str, Any]]
    after: Mapped[dict[str, Any]]


class ConsentRow(Base):
    """One consent record (domain/consent.py): appended, never updated; the latest that applies wins."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_tenant_contact_id", "tenant", "contact_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(200))
    contact_id: Mapped[str] = mapped_column(String(200))
    contact_point: Mapped[str | None] = mapped_column(String(1000))
    channel: Mapped[str | None] = mapped_column(String(50))
    category: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(20))
    evidence: Mapped[dict[str, Any]]
    actor: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundReplyRow(Base):
    """A patient's free-text reply (SMS, WhatsApp, Telegram), what it was read as and what it did.

    Unique per provider and message id, so a provider's redelivery is the same reply. Replies read
    as `unknown` are the staff's to answer until someone acknowledges them.
    """

    __tablename__ = "inbound_replies"
    __table_args__ = (
        UniqueConstraint("provider", "message_id"),
        Index("ix_inbound_replies_tenant_at", "tenant", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str | None] = mapped_column(String(200))
    contact_id: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(50))
    provider: Mapped[str] = mapped_column(String(100))
    message_id: Mapped[str] = mapped_column(String(500))
    sender: Mapped[str] = mapped_column(String(1000))
    text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str] = mapped_column(String(20))
    delivery_id: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class WhatsAppTemplateStatusRow(Base):
    """A WhatsApp template's review status in one language (approved, pending, rejected, paused).

    `staff_told_at` is set once staff heard that it cannot be used, and cleared when the status
    changes, so they hear once per template and language, however many messages it stops.
    """

    __tablename__ = "whatsapp_template_statuses"
    __table_args__ = (UniqueConstraint("tenant", "template", "language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(200))
    template: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(10))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    staff_told_at: Mapped[datetime | None]


class RecallRow(Base):
    """A patient's recall whose workflow is open: how a booking finds the recalls it holds.

    Ids only (patient, recall type): the recall's due date and ladder live in its workflow.
    """

    __tablename__ = "recalls"
    __table_args__ = (UniqueConstraint("tenant", "patient_id", "recall_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(200))
    patient_id: Mapped[str] = mapped_column(String(200))
    recall_type: Mapped[str] = mapped_column(String(200))
    open: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
