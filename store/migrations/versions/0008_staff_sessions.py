"""Staff sign-in throttling and sign-out everywhere: failed logins, a lockout, a session generation."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_staff_sessions"
down_revision = "0010_consents_and_replies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as table:
        table.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("staff_users") as table:
        table.drop_column("session_generation")
        table.drop_column("locked_until")
        table.drop_column("failed_logins")
