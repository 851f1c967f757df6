"""Channels: provider status callbacks, what the engine learned about contacts' channels."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_channels"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "delivery_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("provider_message_id", sa.String(500), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_events"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name="fk_delivery_events_delivery_id_deliveries",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "provider",
            "provider_message_id",
            "status",
            name="uq_delivery_events_provider_provider_message_id_status",
        ),
    )
    op.create_table(
        "contact_channels",
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("contact_id", sa.String(200), nullable=False),
        sa.Column("telegram_chat_id", sa.String(100), nullable=True),
        sa.Column("whatsapp_window_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dead_addresses", JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "contact_id", name="pk_contact_channels"),
    )
    op.create_index("ix_deliveries_provider_message_id", "deliveries", ["provider_message_id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_provider_message_id", table_name="deliveries")
    op.drop_table("contact_channels")
    op.drop_table("delivery_events")
