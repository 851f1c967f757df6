"""The waitlist: entries (`waitlist.joined` / `waitlist.left`) and the offers each slot made."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_waitlist"
down_revision = "0011_delivery_template_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "waitlist_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=200), nullable=False),
        sa.Column("entry_id", sa.String(length=200), nullable=False),
        sa.Column("patient_id", sa.String(length=200), nullable=False),
        sa.Column("service_code", sa.String(length=200), nullable=True),
        sa.Column("doctor_id", sa.String(length=200), nullable=True),
        sa.Column("location_id", sa.String(length=200), nullable=True),
        sa.Column("earliest", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latest", sa.DateTime(timezone=True), nullable=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entries")),
        sa.UniqueConstraint("tenant", "entry_id", name=op.f("uq_waitlist_entries_tenant_entry_id")),
    )
    op.create_index(
        "ix_waitlist_entries_tenant_left_at", "waitlist_entries", ["tenant", "left_at", "joined_at"]
    )
    op.create_index("ix_waitlist_entries_tenant_patient_id", "waitlist_entries", ["tenant", "patient_id"])
    op.create_table(
        "waitlist_offers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=200), nullable=False),
        sa.Column("slot_id", sa.String(length=200), nullable=False),
        sa.Column("entry_id", sa.String(length=200), nullable=False),
        sa.Column("patient_id", sa.String(length=200), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_offers")),
        sa.UniqueConstraint(
            "tenant", "slot_id", "entry_id", name=op.f("uq_waitlist_offers_tenant_slot_id_entry_id")
        ),
    )
    op.create_index(
        "ix_waitlist_offers_tenant_patient_id", "waitlist_offers", ["tenant", "patient_id", "day"]
    )


def downgrade() -> None:
    op.drop_table("waitlist_offers")
    op.drop_table("waitlist_entries")
