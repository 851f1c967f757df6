"""The relay's leases and dead letters: who holds an outbox event until when, and how often it was refused."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_relay_leases"
down_revision = "0004_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_events") as table:
        table.add_column(sa.Column("leased_by", sa.String(200), nullable=True))
        table.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbound_events") as table:
        table.drop_column("reason")
        table.drop_column("attempts")
        table.drop_column("lease_until")
        table.drop_column("leased_by")
