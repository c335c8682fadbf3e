"""scheduling: resources, their hours and exceptions, consultation types, slots (holds and bookings),
reminders and calendar feeds.

Holds and bookings share one table, ``scheduling_slots``, with a ``state``: a
row in state ``held`` or ``booked`` occupies ``[start_s, busy_s)`` (the
appointment and its buffer, epoch seconds, UTC) of its resource. The database
itself refuses two such rows that overlap: on PostgreSQL an exclusion
constraint (which needs the ``btree_gist`` extension, for the ``=`` on the
resource's id), on SQLite triggers that abort the insert or update.

Revision ID: scheduling_0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "scheduling_0001"
down_revision = None
branch_labels = ("scheduling",)
depends_on = None

ACTIVE = "state IN ('held', 'booked')"
NEEDS_BTREE_GIST = (
    "the scheduling plugin needs the PostgreSQL extension btree_gist, and this database user may not create it. "
    "A database administrator must run, in this database: CREATE EXTENSION IF NOT EXISTS btree_gist; "
    "then run `hub db upgrade` again."
)


def _btree_gist() -> None:
    bind = op.get_bind()
    present = bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'btree_gist'")).scalar()
    if present:
        return
    try:
        with bind.begin_nested():  # a savepoint: a refusal must not abort the whole upgrade's transaction
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS btree_gist"))
    except sa.exc.DBAPIError as exc:
        raise RuntimeError(f"{NEEDS_BTREE_GIST} (the server said: {exc.orig})") from None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _btree_gist()
    op.create_table(
        "scheduling_resources",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False, index=True),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("hours", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "scheduling_exceptions",
        sa.Column("n", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("resource_id", sa.String(100), nullable=False, index=True),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("start", sa.String(5), nullable=True),
        sa.Column("end", sa.String(5), nullable=True),
    )
    op.create_table(
        "scheduling_types",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("duration_s", sa.Integer, nullable=False),
        sa.Column("buffer_s", sa.Integer, nullable=False),
    )
    op.create_table(
        "scheduling_slots",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("booking_id", sa.String(64), nullable=True, unique=True),
        sa.Column("resource_id", sa.String(100), nullable=False),
        sa.Column("type_id", sa.String(100), nullable=False),
        sa.Column("client", sa.String(255), nullable=False, index=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("start_s", sa.BigInteger, nullable=False),
        sa.Column("end_s", sa.BigInteger, nullable=False),
        sa.Column("busy_s", sa.BigInteger, nullable=False),
        sa.Column("expires_s", sa.Float, nullable=True),
        sa.Column("idem_key", sa.String(600), nullable=True, unique=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.CheckConstraint("busy_s >= end_s AND end_s > start_s", name="ck_scheduling_slots_range"),
    )
    op.create_index("ix_scheduling_slots_resource_start", "scheduling_slots", ["resource_id", "start_s"])
    op.create_index("ix_scheduling_slots_state_expires", "scheduling_slots", ["state", "expires_s"])
    if dialect == "postgresql":
        op.execute(
            "ALTER TABLE scheduling_slots ADD CONSTRAINT ex_scheduling_slots_no_overlap EXCLUDE USING gist "
            "(resource_id WITH =, tstzrange(to_timestamp(start_s), to_timestamp(busy_s), '[)') WITH &&) "
            f"WHERE ({ACTIVE})"
        )
    else:
        # SQLite has no exclusion constraint: triggers refuse an overlapping active row, so even
        # a writer other than the hub (a script on the same file) cannot double-book.
        overlap = (
            "SELECT RAISE(ABORT, 'scheduling_slots overlap') WHERE EXISTS (SELECT 1 FROM scheduling_slots s "
            "WHERE s.resource_id = NEW.resource_id AND s.id <> NEW.id AND s.state IN ('held', 'booked') "
            "AND s.start_s < NEW.busy_s AND NEW.start_s < s.busy_s)"
        )
        for event in ("INSERT", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER scheduling_slots_no_overlap_{event.lower()} BEFORE {event} ON scheduling_slots "
                f"WHEN NEW.state IN ('held', 'booked') BEGIN {overlap}; END"
            )
    op.create_table(
        "scheduling_reminders",
        sa.Column("booking_id", sa.String(64), primary_key=True),
        sa.Column("offset_s", sa.Float, primary_key=True),
        sa.Column("start_s", sa.BigInteger, primary_key=True),
        sa.Column("due_s", sa.Float, nullable=False),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("claimed_s", sa.Float, nullable=True),
        sa.Column("sent_at", sa.String(40), nullable=True),
    )
    op.create_index("ix_scheduling_reminders_due", "scheduling_reminders", ["sent_at", "due_s"])
    op.create_table(
        "scheduling_feeds",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("kind", "subject", name="uq_scheduling_feeds_subject"),
    )


def downgrade() -> None:
    for table in ("scheduling_feeds", "scheduling_reminders", "scheduling_slots", "scheduling_types",
                  "scheduling_exceptions", "scheduling_resources"):
        op.drop_table(table)
