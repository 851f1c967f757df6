"""Telegram onboarding: when a contact was offered the bot's deep link (once per contact); the cost
report reads the delivery log by the day messages left."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_telegram_onboarding"
down_revision = "0011_delivery_template_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact_channels") as table:
        table.add_column(sa.Column("telegram_offered_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_deliveries_tenant_sent_at", "deliveries", ["tenant", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_tenant_sent_at", table_name="deliveries")
    with op.batch_alter_table("contact_channels") as table:
        table.drop_column("telegram_offered_at")
