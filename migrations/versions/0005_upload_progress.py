"""upload_progress plugin: each upload's owner and final state.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
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
