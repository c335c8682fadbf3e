"""The plugin's tables as the head revision (migrations/scheduling_0001_tables.py) leaves them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

resources = sa.Table(
    "scheduling_resources", metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("tz", sa.String(64), nullable=False),
    sa.Column("hours", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

exceptions = sa.Table(
    "scheduling_exceptions", metadata,
    sa.Column("n", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("resource_id", sa.String(100), nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("start", sa.String(5)),
    sa.Column("end", sa.String(5)),
)

types = sa.Table(
    "scheduling_types", metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("duration_s", sa.Integer, nullable=False),
    sa.Column("buffer_s", sa.Integer, nullable=False),
)

#: Holds and bookings: a row in state ``held`` or ``booked`` occupies ``[start_s, busy_s)`` of its resource.
slots = sa.Table(
    "scheduling_slots", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("booking_id", sa.String(64)),
    sa.Column("resource_id", sa.String(100), nullable=False),
    sa.Column("type_id", sa.String(100), nullable=False),
    sa.Column("client", sa.String(255), nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("start_s", sa.BigInteger, nullable=False),
    sa.Column("end_s", sa.BigInteger, nullable=False),
    sa.Column("busy_s", sa.BigInteger, nullable=False),
    sa.Column("expires_s", sa.Float),
    sa.Column("idem_key", sa.String(600)),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

reminders = sa.Table(
    "scheduling_reminders", metadata,
    sa.Column("booking_id", sa.String(64), primary_key=True),
    sa.Column("offset_s", sa.Float, primary_key=True),
    sa.Column("start_s", sa.BigInteger, primary_key=True),
    sa.Column("due_s", sa.Float, nullable=False),
    sa.Column("claimed_by", sa.String(100)),
    sa.Column("claimed_s", sa.Float),
    sa.Column("sent_at", sa.String(40)),
)

feeds = sa.Table(
    "scheduling_feeds", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("subject", sa.String(255), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

HELD, BOOKED, RELEASED, CANCELLED = "held", "booked", "released", "cancelled"
ACTIVE = (HELD, BOOKED)
