"""The SQL schema of the event log, its engine, and its Alembic migrations.

The tables here mirror the head of the core's branch (``migrations/versions``,
installed as the package ``hub_migrations``); the migrations, not these objects,
create them (``hub db upgrade``, or the hub itself on SQLite). A change to a
table is a new revision plus the matching change here.

The schema is several Alembic branches in one version table: the core's,
labelled ``hub``, and one per plugin that has tables, labelled with the
plugin's name (the ``hub_migrations`` hook gives its directory). A hub
migrates the core and its enabled plugins; the branches of installed plugins
that are not enabled are known, so that their revisions in a database resolve,
but never migrated.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from . import jsoncodec

CORE_BRANCH = "hub"

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


def migrations_dir() -> Path:
    """The core's Alembic folder (``env.py``, ``versions/``), installed as the package ``hub_migrations``."""
    # Found, not imported: the folder is data for Alembic, which loads its files by path.
    spec = importlib.util.find_spec("hub_migrations")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the hub's migrations (package hub_migrations) are not installed: reinstall the hub")
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class Branches:
    """The plugins' Alembic branches a hub knows: plugin name (the branch label) -> version directory.

    ``enabled`` are migrated with the core. ``disabled`` (installed, not enabled)
    are only known, so that a database one of them migrated still resolves.
    """

    enabled: Mapping[str, Path] = field(default_factory=dict)
    disabled: Mapping[str, Path] = field(default_factory=dict)

    @property
    def migrated(self) -> list[str]:
        """The branches brought to their heads: the core's first, then the enabled plugins'."""
        return [CORE_BRANCH, *sorted(self.enabled)]


NO_PLUGINS = Branches()


@dataclass(frozen=True)
class BranchState:
    """One branch in a database: the revision stamped there, and the head this hub has."""

    branch: str
    current: str | None
    head: str
    #: False for a disabled plugin's branch: left where it is.
    migrated: bool = True

    @property
    def up_to_date(self) -> bool:
        return not self.migrated or self.current == self.head

    def describe(self) -> str:
        """One line of ``hub db current``."""
        if not self.migrated:
            state = "plugin not enabled: left as it is"
        elif self.up_to_date:
            state = "up to date"
        else:
            state = f"needs {self.head}: run `hub db upgrade`"
        return f"{self.branch}: {self.current or 'none'} ({state})"


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema is, branch by branch."""

    branches: list[BranchState]
    #: Revisions stamped in the database that neither the core nor any installed plugin has.
    unknown: list[str]
    #: The database has tables at all (a database with tables but no stamp is not the hub's to migrate).
    has_tables: bool

    @property
    def up_to_date(self) -> bool:
        return not self.unknown and all(branch.up_to_date for branch in self.branches)

    @property
    def stamped(self) -> bool:
        return bool(self.unknown) or any(branch.current for branch in self.branches)

    def outdated_message(self) -> str:
        current = [b.current for b in self.branches if b.migrated and b.current] + self.unknown
        needed = [b.head for b in self.branches if b.migrated]
        return (
            f"the database schema is at revision {', '.join(current) or 'none (no hub tables)'}, "
            f"the hub needs {', '.join(needed)}: run `hub db upgrade`"
        )


def _escape(value: str) -> str:
    return value.replace("%", "%%")  # Alembic's options are ConfigParser values


def alembic_config(url: str | None = None, branches: Branches = NO_PLUGINS) -> Any:
    """Alembic's configuration, built in code (no alembic.ini): the core's and every known plugin's revisions."""
    from alembic.config import Config

    core = migrations_dir()
    locations = [core / "versions", *branches.enabled.values(), *branches.disabled.values()]
    config = Config()
    config.set_main_option("script_location", _escape(str(core)))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_path_separator", "os")  # the same option, as Alembic before 1.16 names it
    config.set_main_option("version_locations", _escape(os.pathsep.join(str(path) for path in locations)))
    if url:
        config.set_main_option("sqlalchemy.url", _escape(url))
    return config


def _script(branches: Branches) -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(branches=branches))


def _heads(script: Any, branches: Branches) -> dict[str, str]:
    """Each known branch's one head, checking that a plugin's branch is labelled and lives in its folder."""
    from alembic.script.revision import RevisionError

    plugins = {**branches.enabled, **branches.disabled}
    folders = {CORE_BRANCH: migrations_dir() / "versions", **{name: plugins[name] for name in sorted(plugins)}}
    heads: dict[str, str] = {}
    for branch, folder in folders.items():
        what = "the core" if branch == CORE_BRANCH else f"plugin {branch!r}"
        try:
            found = script.revision_map.get_revisions(f"{branch}@head")
            # "<name>@head" also resolves a revision id starting with the name: the label must be there.
            if not all(branch in revision.branch_labels for revision in found):
                raise RevisionError(branch)
        except RevisionError:
            raise RuntimeError(
                f"{what}: no revision in {folder} is labelled {branch!r} "
                f"(its first revision needs branch_labels = ({branch!r},))"
            ) from None
        if len(found) != 1:
            heads_found = ", ".join(sorted(revision.revision for revision in found))
            raise RuntimeError(f"{what}: the branch {branch!r} has {len(found)} heads ({heads_found}); it must be linear")
        if Path(found[0].path).resolve().parent != Path(folder).resolve():
            raise RuntimeError(f"{what}: the head of the branch {branch!r} is {found[0].path}, outside {folder}")
        heads[branch] = str(found[0].revision)
    return heads


def heads(branches: Branches = NO_PLUGINS) -> dict[str, str]:
    """The head of every known branch (the core's, and the enabled and disabled plugins'), by branch."""
    return _heads(_script(branches), branches)


def head_revision() -> str:
    """The core's head: the revision this hub's own tables need."""
    return heads()[CORE_BRANCH]


def _schema_state(connection: Connection, branches: Branches) -> SchemaState:
    from alembic.runtime.migration import MigrationContext
    from alembic.script.revision import RevisionError

    script = _script(branches)
    heads = _heads(script, branches)
    current: dict[str, str] = {}
    unknown: list[str] = []
    for stamped in MigrationContext.configure(connection).get_current_heads():
        try:
            labels = script.revision_map.get_revision(stamped).branch_labels
        except RevisionError:
            unknown.append(stamped)
            continue
        branch = next((name for name in heads if name in labels), None)
        if branch is None:
            unknown.append(stamped)
        else:
            current[branch] = stamped
    states = [BranchState(name, current.get(name), heads[name]) for name in branches.migrated]
    states += [BranchState(name, current[name], heads[name], migrated=False)
               for name in sorted(branches.disabled) if name in current]
    return SchemaState(states, sorted(unknown), bool(sa.inspect(connection).get_table_names()))


async def schema_state(connection: AsyncConnection, branches: Branches = NO_PLUGINS) -> SchemaState:
    """Where the database's schema is: the core's branch, each enabled plugin's, and stamped disabled ones."""
    return await connection.run_sync(_schema_state, branches)


async def upgrade(engine: AsyncEngine, revision: str = "heads", branches: Branches = NO_PLUGINS) -> None:
    """Run migrations in one transaction: to ``revision``, or with "heads" every migrated branch to its head."""
    from alembic import command

    targets = [f"{branch}@head" for branch in branches.migrated] if revision in ("head", "heads") else [revision]

    def run(connection: Connection) -> None:
        config = alembic_config(branches=branches)
        config.attributes["connection"] = connection
        for target in targets:
            command.upgrade(config, target)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def upgrade_url(url: str, revision: str = "heads", branches: Branches = NO_PLUGINS) -> None:
    """``upgrade`` on a fresh engine for ``url`` (the ``hub db upgrade`` command)."""
    engine = create_engine(url)
    try:
        await upgrade(engine, revision, branches)
    finally:
        await engine.dispose()


async def check_schema(engine: AsyncEngine, migrate: bool, branches: Branches = NO_PLUGINS) -> None:
    """Make sure the core's branch and every enabled plugin's are at their heads.

    With ``migrate`` (SQLite, the default store) pending revisions are applied:
    on a new file, on one an older hub left, and for a plugin enabled since.
    Otherwise, or for a database with tables but no revision stamp, raise
    ``RuntimeError`` telling to run ``hub db upgrade``: migrating a shared
    server is the operator's decision.
    """
    async with engine.connect() as connection:
        state = await schema_state(connection, branches)
    if state.up_to_date:
        return
    if migrate and not state.unknown and (state.stamped or not state.has_tables):
        await upgrade(engine, branches=branches)
        return
    raise RuntimeError(state.outdated_message())
