"""A slimmer offline queue: hub_inbox keeps only its primary key.

Every durable inbox event writes one hub_inbox row in the same transaction as
its event, so the foreign key to hub_events and the two secondary indexes
were paid on every publish (on PostgreSQL a third of the append's server
time) while guarding nothing the append path does not already guarantee:
the row is written with its event, and retention never deletes an event
that is still queued. ``ack`` finds rows through the primary key's
``user_id`` prefix; retention's "still queued" check is one anti-join.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _inbox_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("event_id", sa.String(128), nullable=False),
    ]


def _copy_inbox(*constraints: sa.schema.SchemaItem) -> None:
    """SQLite cannot drop or add a foreign key in place: copy the rows into a new table."""
    op.create_table("hub_inbox_new", *_inbox_columns(), *constraints)
    op.execute("INSERT INTO hub_inbox_new (user_id, topic, seq, event_id) "
               "SELECT user_id, topic, seq, event_id FROM hub_inbox")
    op.drop_table("hub_inbox")
    op.rename_table("hub_inbox_new", "hub_inbox")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _copy_inbox(sa.PrimaryKeyConstraint("user_id", "topic", "seq", name="pk_hub_inbox"))
        return
    op.drop_constraint("fk_hub_inbox_event", "hub_inbox", type_="foreignkey")
    op.drop_index("ix_hub_inbox_user_event", table_name="hub_inbox")
    op.drop_index("ix_hub_inbox_event", table_name="hub_inbox")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _copy_inbox(
            sa.PrimaryKeyConstraint("user_id", "topic", "seq", name="pk_hub_inbox"),
            sa.ForeignKeyConstraint(["topic", "seq"], ["hub_events.topic", "hub_events.seq"],
                                    name="fk_hub_inbox_event"),
        )
    else:
        op.create_foreign_key("fk_hub_inbox_event", "hub_inbox", "hub_events", ["topic", "seq"], ["topic", "seq"])
    op.create_index("ix_hub_inbox_user_event", "hub_inbox", ["user_id", "event_id"])
    op.create_index("ix_hub_inbox_event", "hub_inbox", ["topic", "seq"])
