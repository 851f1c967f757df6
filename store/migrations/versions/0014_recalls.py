"""Open recalls per patient (`recalls`): how a booking finds the recall workflows it holds."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_recalls"
down_revision = "0011_delivery_template_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recalls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=200), nullable=False),
        sa.Column("patient_id", sa.String(length=200), nullable=False),
        sa.Column("recall_type", sa.String(length=200), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recalls")),
        sa.UniqueConstraint(
            "tenant", "patient_id", "recall_type", name=op.f("uq_recalls_tenant_patient_id_recall_type")
        ),
    )


def downgrade() -> None:
    op.drop_table("recalls")
