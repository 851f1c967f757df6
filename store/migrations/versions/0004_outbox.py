"""The outbox: an accepted event keeps its payload until the relay has delivered it to its workflow.

Also joins the two branches (channels, templates) into one head.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_outbox"
down_revision = ("0002_channels", "0003_templates")
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("inbound_events") as table:
        table.add_column(sa.Column("payload", JSON, nullable=True))
        table.create_index("ix_inbound_events_status", ["status"])


def downgrade() -> None:
    with op.batch_alter_table("inbound_events") as table:
        table.drop_index("ix_inbound_events_status")
        table.drop_column("payload")
