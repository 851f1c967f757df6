"""The consent category of each delivery, which the cadence counts per recipient (domain/cadence.py).

Rows from before it have none and are not counted: the cadence starts counting at the upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_notifications"
down_revision = "0011_delivery_template_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as table:
        table.add_column(sa.Column("category", sa.String(20), nullable=True))
    # The cadence asks, before each send, what one recipient was sent lately.
    op.create_index(
        "ix_deliveries_tenant_contact_scheduled", "deliveries", ["tenant", "contact_id", "scheduled_for"]
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_tenant_contact_scheduled", table_name="deliveries")
    with op.batch_alter_table("deliveries") as table:
        table.drop_column("category")
