"""The SQL schema of the event log, its engine, and its Alembic migrations.

The tables here mirror the latest revision in ``migrations/versions``; the
migrations, not these objects, create them (``hub db upgrade``, or the hub
itself on a brand-new SQLite file). A change to a table is a new revision
plus the matching change here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

import hub

from . import jsoncodec

MIGRATIONS_DIR = Path(hub.__file__).resolve().parent.parent / "migrations"

metadata = sa.MetaData()

events = sa.Table(
    "hub_events",
    metadata,
    sa.Column("topic", sa.String(255), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("id", sa.String(128), nullable=False),
    sa.Column("type", sa.String(255), nullable=False),
    sa.Column("ts", sa.String(40), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("meta", sa.JSON, nullable=False),
    sa.Column("stored_at", sa.Float, nullable=False),
    sa.UniqueConstraint("topic", "id", name="uq_hub_events_topic_id"),
)

# One row per topic: the last seq handed out. Trimming never lowers it, so a
# seq is never reused; the row is also the lock that serializes a topic's appends.
topic_seqs = sa.Table(
    "hub_topic_seqs",
    metadata,
    sa.Column("topic", sa.String(255), primary_key=True),
    sa.Column("latest_seq", sa.BigInteger, nullable=False),
)

inbox = sa.Table(
    "hub_inbox",
    metadata,
    sa.Column("user_id", sa.String(255), primary_key=True),
    sa.Column("topic", sa.String(255), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    # No foreign key or secondary index (revision 0007): every row is written with
    # its event, and retention keeps events that are still queued.
    sa.Column("event_id", sa.String(128), nullable=False),
)

replays = sa.Table(
    "hub_replays",
    metadata,
    sa.Column("n", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("requested_at", sa.String(40), nullable=False),
    sa.Column("filters", sa.JSON, nullable=False),
    sa.Column("target_user", sa.String(255), nullable=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("dry_run", sa.Boolean, nullable=False),
)


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url``; SQLite files get WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_async_engine(url, json_serializer=jsoncodec.dumps, json_deserializer=jsoncodec.loads)
        sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql"):
        _require("asyncpg", "postgres")
        return create_async_engine(
            url,
            json_serializer=jsoncodec.dumps,
            json_deserializer=jsoncodec.loads,
            pool_size=10,
            max_overflow=10,
            # asyncpg prepares every statement, and PostgreSQL would freeze a
            # generic plan made while the tables were small (a sequential scan)
            # for the pool's lifetime; custom plans follow the tables' growth.
            connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}},
        )
    raise ValueError(f"no SQL event log for {url!r} (use sqlite+aiosqlite:// or postgresql+asyncpg://)")


def _require(module: str, extra: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise RuntimeError(f'the {module} package is not installed (run "pip install hub[{extra}]")') from None


def _ensure_sqlite_dir(url: str) -> None:
    database = sa.make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; synchronous=FULL fsyncs each
    # commit, because an acknowledged append must survive a power cut.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# -- migrations ---------------------------------------------------------------


def alembic_config(url: str | None = None) -> Any:
    """Alembic's configuration, built in code: no alembic.ini needed."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The revision this hub's code needs."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migration history has {len(heads)} heads {heads}; it must be one linear history")
    return str(heads[0])


def _current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _table_names(connection: Connection) -> list[str]:
    return sa.inspect(connection).get_table_names()


async def current_revision(connection: AsyncConnection) -> str | None:
    """The revision stamped in the database, None when it has none."""
    return await connection.run_sync(_current_revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` in one transaction."""
    from alembic import command

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def upgrade_url(url: str, revision: str = "head") -> None:
    """``upgrade`` on a fresh engine for ``url`` (the ``hub db upgrade`` command)."""
    engine = create_engine(url)
    try:
        await upgrade(engine, revision)
    finally:
        await engine.dispose()


def outdated_message(current: str | None, head: str) -> str:
    return (
        f"the database schema is at revision {current or 'none (no hub tables)'}, "
        f"the hub needs {head}: run `hub db upgrade`"
    )


async def check_schema(engine: AsyncEngine, create_if_empty: bool) -> None:
    """Make sure the database is at the head revision.

    An empty database is migrated when ``create_if_empty`` (a new SQLite file);
    anything else not at the head raises ``RuntimeError`` telling to run ``hub db upgrade``,
    because migrating a shared server is the operator's decision.
    """
    head = head_revision()
    async with engine.connect() as connection:
        tables = await connection.run_sync(_table_names)
        current = await current_revision(connection) if tables else None
    if current == head:
        return
    if not tables and create_if_empty:
        await upgrade(engine)
        return
    raise RuntimeError(outdated_message(current, head))
