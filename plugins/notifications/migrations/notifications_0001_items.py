"""notifications: one row per notification and user, with its read state.

A hub older than the plugin's own migrations created this table in the core's
revision 0003: then the table is adopted as it is (its rows stay), else created.

Revision ID: notifications_0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "notifications_0001"
down_revision = None
branch_labels = ("notifications",)
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("notifications_items"):
        return
    op.create_table(
        "notifications_items",
        sa.Column("n", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("read_at", sa.String(40), nullable=True),
        sa.UniqueConstraint("user_id", "id", name="uq_notifications_items_user_id"),
    )
    op.create_index("ix_notifications_items_user_n", "notifications_items", ["user_id", "n"])


def downgrade() -> None:
    op.drop_index("ix_notifications_items_user_n", table_name="notifications_items")
    op.drop_table("notifications_items")
