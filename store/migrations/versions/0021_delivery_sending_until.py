"""Until when a `sending` delivery's attempt may still record what the provider answered: a retry
that asks the provider about a message in doubt waits for a live attempt with the same text to the
same address before it takes a message of that text for its own (activities/send.py, `_reconcile`)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_delivery_sending_until"
down_revision = "0011_delivery_template_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as table:
        table.add_column(sa.Column("sending_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as table:
        table.drop_column("sending_until")
