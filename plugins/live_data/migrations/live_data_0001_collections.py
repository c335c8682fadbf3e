"""live_data: collections, their records, the changes' idempotency ids, and the outbox drainer's lease.

Revision ID: live_data_0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "live_data_0001"
down_revision = None
branch_labels = ("live_data",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_data_collections",
        sa.Column("name", sa.String(200), primary_key=True),
        # The seq of live:<name> that the records reflect: the event log is the write-ahead log.
        sa.Column("applied_seq", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "live_data_records",
        sa.Column("collection", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    # The idempotency ids of changes, so that a retry gets the first try's answer (written with the records).
    op.create_table(
        "live_data_ids",
        sa.Column("collection", sa.String(200), primary_key=True),
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False, index=True),
    )
    op.create_table(
        "live_data_leases",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("live_data_leases")
    op.drop_table("live_data_ids")
    op.drop_table("live_data_records")
    op.drop_table("live_data_collections")
