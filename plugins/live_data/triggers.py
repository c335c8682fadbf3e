"""The SQL that watches an application's table: an outbox, and triggers that write each change into it.

The trigger runs in the application's own transaction, so its outbox row commits
with the change or not at all: a rolled-back change is never delivered, a
committed one is never missed. On PostgreSQL the trigger also sends
``NOTIFY live_data_outbox`` (delivered at commit) to wake the hub; a SQLite
outbox is polled. Each outbox row holds the whole row as JSON (``UPSERT``) or
only its key (``DELETE``).
"""

from __future__ import annotations

import re

OUTBOX = "live_data_outbox"
CHANNEL = "live_data_outbox"
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _check(*names: str) -> None:
    for name in names:
        if not IDENTIFIER.match(name):
            raise ValueError(f"{name!r} is not a plain SQL identifier")


def trigger_name(table: str) -> str:
    return f"live_data_{table}"


def _sqlite_now() -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"


def install_sql(dialect: str, table: str, key: str, columns: list[str] | None = None) -> list[str]:
    """The statements that create the outbox (once) and watch ``table`` (keyed by ``key``)."""
    _check(table, key, *(columns or []))
    if dialect == "postgresql":
        return [
            f"CREATE TABLE IF NOT EXISTS {OUTBOX} (id BIGSERIAL PRIMARY KEY, table_name TEXT NOT NULL, "
            "op TEXT NOT NULL, row_key TEXT NOT NULL, row_data TEXT, "
            "created_at DOUBLE PRECISION NOT NULL DEFAULT extract(epoch from clock_timestamp()), "
            "delivered_at DOUBLE PRECISION)",
            f"CREATE INDEX IF NOT EXISTS {OUTBOX}_pending ON {OUTBOX} (id) WHERE delivered_at IS NULL",
            f"""CREATE OR REPLACE FUNCTION live_data_capture() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND (TG_OP = 'DELETE' OR (to_jsonb(OLD) ->> TG_ARGV[0]) IS DISTINCT FROM (to_jsonb(NEW) ->> TG_ARGV[0])) THEN
    INSERT INTO {OUTBOX} (table_name, op, row_key) VALUES (TG_TABLE_NAME, 'DELETE', to_jsonb(OLD) ->> TG_ARGV[0]);
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO {OUTBOX} (table_name, op, row_key, row_data)
      VALUES (TG_TABLE_NAME, 'UPSERT', to_jsonb(NEW) ->> TG_ARGV[0], to_jsonb(NEW)::text);
  END IF;
  PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
  RETURN NULL;
END
$$""",
            f"DROP TRIGGER IF EXISTS {trigger_name(table)} ON {table}",
            f"CREATE TRIGGER {trigger_name(table)} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION live_data_capture('{key}')",
        ]
    if dialect != "sqlite":
        raise ValueError(f"watched tables need PostgreSQL or SQLite, not {dialect}")
    if not columns:
        raise ValueError(f"table {table!r} has no columns (does it exist?)")
    row = "json_object(" + ", ".join(f"'{column}', NEW.{column}" for column in columns) + ")"
    upsert = (
        f"INSERT INTO {OUTBOX} (table_name, op, row_key, row_data, created_at) "
        f"VALUES ('{table}', 'UPSERT', CAST(NEW.{key} AS TEXT), {row}, {_sqlite_now()});"
    )
    delete = (
        f"INSERT INTO {OUTBOX} (table_name, op, row_key, created_at) "
        f"VALUES ('{table}', 'DELETE', CAST(OLD.{key} AS TEXT), {_sqlite_now()});"
    )
    name = trigger_name(table)
    return [
        f"CREATE TABLE IF NOT EXISTS {OUTBOX} (id INTEGER PRIMARY KEY AUTOINCREMENT, table_name TEXT NOT NULL, "
        "op TEXT NOT NULL, row_key TEXT NOT NULL, row_data TEXT, created_at REAL NOT NULL, delivered_at REAL)",
        f"CREATE INDEX IF NOT EXISTS {OUTBOX}_pending ON {OUTBOX} (delivered_at, id)",
        *remove_sql("sqlite", table),
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN {upsert} END",
        f"CREATE TRIGGER {name}_update AFTER UPDATE ON {table} BEGIN "
        f"INSERT INTO {OUTBOX} (table_name, op, row_key, created_at) SELECT '{table}', 'DELETE', "
        f"CAST(OLD.{key} AS TEXT), {_sqlite_now()} WHERE OLD.{key} IS NOT NEW.{key}; {upsert} END",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN {delete} END",
    ]


def backfill_sql(dialect: str, table: str, key: str, columns: list[str] | None = None) -> list[str]:
    """The statement that puts every row already in ``table`` into the outbox, as an upsert.

    Run in the transaction that creates the triggers (which locks the table
    against writes on PostgreSQL; SQLite has one writer): every row is then
    either backfilled or captured by a trigger, never neither.
    """
    _check(table, key, *(columns or []))
    if dialect == "postgresql":
        return [
            f"INSERT INTO {OUTBOX} (table_name, op, row_key, row_data) "
            f"SELECT '{table}', 'UPSERT', to_jsonb(t) ->> '{key}', to_jsonb(t)::text FROM {table} t"
        ]
    row = "json_object(" + ", ".join(f"'{column}', {column}" for column in columns or []) + ")"
    return [
        f"INSERT INTO {OUTBOX} (table_name, op, row_key, row_data, created_at) "
        f"SELECT '{table}', 'UPSERT', CAST({key} AS TEXT), {row}, {_sqlite_now()} FROM {table}"
    ]


def remove_sql(dialect: str, table: str) -> list[str]:
    """The statements that stop watching ``table`` (the outbox stays: other tables may use it)."""
    _check(table)
    name = trigger_name(table)
    if dialect == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {name} ON {table}"]
    return [f"DROP TRIGGER IF EXISTS {name}_{event}" for event in ("insert", "update", "delete")]
