"""Initial schema: tenants, settings, contacts, inbound events, deliveries and their attempts."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column[sa.DateTime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("api_key_hash", sa.String(64), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("api_key_hash", name="uq_tenants_api_key_hash"),
    )
    op.create_table(
        "tenant_settings",
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("data", JSON, nullable=False),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("tenant", name="pk_tenant_settings"),
        sa.ForeignKeyConstraint(
            ["tenant"], ["tenants.id"], name="fk_tenant_settings_tenant_tenants", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "contacts",
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("data", JSON, nullable=False),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("tenant", "id", name="pk_contacts"),
    )
    op.create_table(
        "inbound_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("event_id", sa.String(500), nullable=False),
        sa.Column("type", sa.String(500), nullable=False),
        sa.Column("subject", sa.String(500), nullable=True),
        sa.Column("workflow_id", sa.String(500), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        _at("received_at"),
        _at("routed_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_events"),
        sa.UniqueConstraint("tenant", "source", "event_id", name="uq_inbound_events_tenant_source_event_id"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("idempotency_key", sa.String(500), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("workflow_id", sa.String(500), nullable=False),
        sa.Column("step", sa.String(200), nullable=False),
        sa.Column("contact_id", sa.String(200), nullable=False),
        sa.Column("template", sa.String(200), nullable=False),
        _at("scheduled_for"),
        sa.Column("channel", sa.String(50), nullable=True),
        sa.Column("provider", sa.String(100), nullable=True),
        sa.Column("locale", sa.String(50), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("attachments", JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("provider_message_id", sa.String(500), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        _at("sent_at", nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("idempotency_key", name="uq_deliveries_idempotency_key"),
    )
    for columns in (("subject",), ("contact_id",), ("status",), ("created_at",)):
        op.create_index(f"ix_deliveries_tenant_{columns[0]}", "deliveries", ["tenant", *columns])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(50), nullable=True),
        sa.Column("provider", sa.String(100), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("provider_message_id", sa.String(500), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        _at("at"),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_attempts"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name="fk_delivery_attempts_delivery_id_deliveries",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("delivery_id", "attempt", name="uq_delivery_attempts_delivery_id_attempt"),
    )


def downgrade() -> None:
    op.drop_table("delivery_attempts")
    for column in ("created_at", "status", "contact_id", "subject"):
        op.drop_index(f"ix_deliveries_tenant_{column}", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("inbound_events")
    op.drop_table("contacts")
    op.drop_table("tenant_settings")
    op.drop_table("tenants")
