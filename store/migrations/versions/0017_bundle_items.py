"""Messages held for their bundle (a staff digest, one reminder to a guardian for several children)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017_bundle_items"
down_revision = "0011_delivery_template_version"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "bundle_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=200), nullable=False),
        sa.Column("bundle_key", sa.String(length=500), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.String(length=200), nullable=False),
        sa.Column("input", JSON, nullable=False),
        sa.Column("claimed_by", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name="fk_bundle_items_delivery_id_deliveries",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_bundle_items"),
        sa.UniqueConstraint("delivery_id", name="uq_bundle_items_delivery_id"),
    )
    op.create_index("ix_bundle_items_tenant_key", "bundle_items", ["tenant", "bundle_key", "claimed_by"])


def downgrade() -> None:
    op.drop_index("ix_bundle_items_tenant_key", table_name="bundle_items")
    op.drop_table("bundle_items")
