"""WhatsApp template status per tenant, template and language, synced from Meta or set by staff."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_whatsapp_template_status"
down_revision = "0011_delivery_template_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "whatsapp_template_statuses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=200), nullable=False),
        sa.Column("template", sa.String(length=512), nullable=False),
        sa.Column("language", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("staff_told_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whatsapp_template_statuses")),
        sa.UniqueConstraint(
            "tenant",
            "template",
            "language",
            name=op.f("uq_whatsapp_template_statuses_tenant_template_language"),
        ),
    )


def downgrade() -> None:
    op.drop_table("whatsapp_template_statuses")
