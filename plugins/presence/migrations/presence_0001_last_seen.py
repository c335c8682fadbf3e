"""presence: when each user was last seen online.

A hub older than the plugin's own migrations created this table in the core's
revision 0004: then the table is adopted as it is (its rows stay), else created.

Revision ID: presence_0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "presence_0001"
down_revision = None
branch_labels = ("presence",)
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("presence_last_seen"):
        return
    op.create_table(
        "presence_last_seen",
        sa.Column("user_id", sa.String(255), primary_key=True),
        sa.Column("last_seen", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("presence_last_seen")
