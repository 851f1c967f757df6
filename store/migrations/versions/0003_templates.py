"""Staff-edited templates: versions, the published pointer, send-time errors, staff users."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_templates"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column[sa.DateTime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "template_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("locale", sa.String(50), nullable=False),
        sa.Column("channel", sa.String(50), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fields", JSON, nullable=False),
        sa.Column("author", sa.String(320), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        _at("created_at"),
        _at("published_at", nullable=True),
        sa.Column("published_by", sa.String(320), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_template_versions"),
        sa.UniqueConstraint(
            "tenant",
            "key",
            "locale",
            "channel",
            "version",
            name="uq_template_versions_tenant_key_locale_channel_version",
        ),
    )
    op.create_index("ix_template_versions_tenant_key", "template_versions", ["tenant", "key"])
    op.create_table(
        "published_templates",
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("locale", sa.String(50), nullable=False),
        sa.Column("channel", sa.String(50), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        _at("published_at"),
        sa.PrimaryKeyConstraint("tenant", "key", "locale", "channel", name="pk_published_templates"),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["template_versions.id"],
            name="fk_published_templates_version_id_template_versions",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "template_errors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("locale", sa.String(50), nullable=False),
        sa.Column("channel", sa.String(50), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        _at("at"),
        sa.PrimaryKeyConstraint("id", name="pk_template_errors"),
    )
    op.create_index("ix_template_errors_tenant_at", "template_errors", ["tenant", "at"])
    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_staff_users"),
        sa.UniqueConstraint("email", name="uq_staff_users_email"),
    )


def downgrade() -> None:
    op.drop_table("staff_users")
    op.drop_index("ix_template_errors_tenant_at", table_name="template_errors")
    op.drop_table("template_errors")
    op.drop_table("published_templates")
    op.drop_index("ix_template_versions_tenant_key", table_name="template_versions")
    op.drop_table("template_versions")
