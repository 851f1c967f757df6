"""Provider pacing shared by every worker: a row per sender bucket and the tickets of messages that
wait for their reserved moment (store/pacing.py)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_provider_pacing"
down_revision = "0011_delivery_template_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pacing_buckets",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_pacing_buckets")),
    )
    op.create_table(
        "pacing_tickets",
        sa.Column("ticket", sa.String(600), nullable=False),
        sa.Column("slot_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("ticket", name=op.f("pk_pacing_tickets")),
    )
    op.create_index(op.f("ix_pacing_tickets_slot_at"), "pacing_tickets", ["slot_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pacing_tickets_slot_at"), table_name="pacing_tickets")
    op.drop_table("pacing_tickets")
    op.drop_table("pacing_buckets")
