"""Admin event search and replay records: an index on ts, the replay log.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The admin search pages through events in (ts, seq, topic) order.
    op.create_index("ix_hub_events_ts", "hub_events", ["ts", "seq", "topic"])
    op.create_table(
        "hub_replays",
        # An increasing number keeps "newest first" exact when two replays share a millisecond.
        sa.Column("n", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("requested_at", sa.String(40), nullable=False),
        sa.Column("filters", sa.JSON, nullable=False),
        sa.Column("target_user", sa.String(255), nullable=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.UniqueConstraint("id", name="uq_hub_replays_id"),
    )


def downgrade() -> None:
    op.drop_table("hub_replays")
    op.drop_index("ix_hub_events_ts", table_name="hub_events")
