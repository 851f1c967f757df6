"""Which published template version a delivery went out with (None: the file default); joins the
branches that grew side by side (relay leases; console, consents and staff sessions)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_delivery_template_version"
down_revision = ("0005_relay_leases", "0008_staff_sessions")
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as table:
        table.add_column(sa.Column("template_version_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as table:
        table.drop_column("template_version_id")
