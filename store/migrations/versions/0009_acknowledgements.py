"""Work-queue acknowledgements: which failed delivery, late booking or low rating a staff user dealt with."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_acknowledgements"
down_revision = "0004_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acknowledgements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=200), nullable=False),
        sa.Column("queue", sa.String(length=30), nullable=False),
        sa.Column("item", sa.String(length=500), nullable=False),
        sa.Column("by", sa.String(length=320), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acknowledgements")),
        sa.UniqueConstraint("tenant", "queue", "item", name=op.f("uq_acknowledgements_tenant_queue_item")),
    )


def downgrade() -> None:
    op.drop_table("acknowledgements")
