"""doc_processing: document jobs, their state and their queue.

A hub older than the plugin's own migrations created this table in the core's
revision 0006: then the table is adopted as it is (its rows stay), else created.

Revision ID: doc_processing_0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "doc_processing_0001"
down_revision = None
branch_labels = ("doc_processing",)
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("doc_processing_jobs"):
        return
    op.create_table(
        "doc_processing_jobs",
        sa.Column("document_id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("processor", sa.String(64), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("stage", sa.String(64), nullable=True),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("error", sa.JSON, nullable=True),
        sa.Column("file_path", sa.Text, nullable=True),
        sa.Column("filename", sa.String(500), nullable=True),
        sa.Column("content_type", sa.String(255), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        # Bumped by every status change: the compare-and-set that keeps concurrent writers apart.
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(255), nullable=True),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_doc_processing_jobs_queue", "doc_processing_jobs", ["state", "lease_until"])
    op.create_index("ix_doc_processing_jobs_owner", "doc_processing_jobs", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_doc_processing_jobs_owner", table_name="doc_processing_jobs")
    op.drop_index("ix_doc_processing_jobs_queue", table_name="doc_processing_jobs")
    op.drop_table("doc_processing_jobs")
