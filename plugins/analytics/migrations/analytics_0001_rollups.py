"""analytics: the figures of each hub process per rollup interval.

Revision ID: analytics_0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "analytics_0001"
down_revision = None
branch_labels = ("analytics",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_rollups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("node", sa.String(255), nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("figures", sa.Text, nullable=False),
    )
    op.create_index("ix_analytics_rollups_start", "analytics_rollups", ["start"])


def downgrade() -> None:
    op.drop_index("ix_analytics_rollups_start", table_name="analytics_rollups")
    op.drop_table("analytics_rollups")
