"""collab: documents (epoch, compacted snapshot), their stored updates, and named versions.

Revision ID: collab_0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "collab_0001"
down_revision = None
branch_labels = ("collab",)
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "collab_documents",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("epoch", sa.String(40), nullable=False),
        # The last update number handed out: appends take turns on this row.
        sa.Column("head", BIGINT, nullable=False),
        # The compacted state covering updates 1..snapshot_upto (empty bytes: nothing yet).
        sa.Column("snapshot", sa.LargeBinary, nullable=False),
        sa.Column("snapshot_upto", BIGINT, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "collab_updates",
        sa.Column("document", sa.String(200), primary_key=True),
        sa.Column("seq", BIGINT, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("user_id", sa.String(255), nullable=True),
    )
    op.create_table(
        "collab_versions",
        sa.Column("document", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("state", sa.LargeBinary, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("collab_versions")
    op.drop_table("collab_updates")
    op.drop_table("collab_documents")
