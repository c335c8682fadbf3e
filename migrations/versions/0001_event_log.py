"""The event log: events, per-topic seq counters, user inboxes.

Revision ID: 0001
Revises:
Create Date: 2025-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
# The core's branch; each plugin's revisions form a branch labelled with the plugin's name.
branch_labels = ("hub",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_events",
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("ts", sa.String(40), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("stored_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("topic", "seq", name="pk_hub_events"),
        sa.UniqueConstraint("topic", "id", name="uq_hub_events_topic_id"),
    )
    # Trimming by age scans by stored_at.
    op.create_index("ix_hub_events_stored_at", "hub_events", ["stored_at"])
    op.create_table(
        "hub_topic_seqs",
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("latest_seq", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("topic", name="pk_hub_topic_seqs"),
    )
    op.create_table(
        "hub_inbox",
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "topic", "seq", name="pk_hub_inbox"),
        sa.ForeignKeyConstraint(
            ["topic", "seq"], ["hub_events.topic", "hub_events.seq"], name="fk_hub_inbox_event"
        ),
    )
    # ack deletes by (user, event id); the foreign key's side needs its own index on PostgreSQL.
    op.create_index("ix_hub_inbox_user_event", "hub_inbox", ["user_id", "event_id"])
    op.create_index("ix_hub_inbox_event", "hub_inbox", ["topic", "seq"])


def downgrade() -> None:
    op.drop_table("hub_inbox")
    op.drop_table("hub_topic_seqs")
    op.drop_index("ix_hub_events_stored_at", table_name="hub_events")
    op.drop_table("hub_events")
