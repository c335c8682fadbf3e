"""upload_progress: each upload's owner and final state.

A hub older than the plugin's own migrations created this table in the core's
revision 0005: then the table is adopted as it is (its rows stay), else created.

Revision ID: upload_progress_0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "upload_progress_0001"
down_revision = None
branch_labels = ("upload_progress",)
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("upload_progress_uploads"):
        return
    op.create_table(
        "upload_progress_uploads",
        sa.Column("upload_id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("filename", sa.String(500), nullable=True),
        sa.Column("content_type", sa.String(255), nullable=True),
        sa.Column("bytes", sa.BigInteger, nullable=True),
        sa.Column("storage", sa.String(40), nullable=True),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("public_id", sa.String(500), nullable=True),
        sa.Column("error", sa.JSON, nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("upload_progress_uploads")
