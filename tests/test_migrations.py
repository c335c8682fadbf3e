"""Plugins' own Alembic branches: the upgrade from the old single history, enabling and removing a plugin.

Every test runs on a SQLite file and on a PostgreSQL database of its own.
A database built with the history of hubs before plugins owned their schema
(tests/fixtures/legacy_migrations, head 0007) keeps every row through
``hub db upgrade``, ends with the schema a new database gets, and a hub
started on it delivers what was queued. The fixture plugin ``ledger``
(tests/fixtures/hub_ledger) has a branch of two revisions.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hub import db
from hub.plugin_schema import plugin_branches
from hub.plugins import load_plugins
from hub.testing import RunningHub, SocketRecorder

from .test_db_cli import branch_heads, hub_db
from .test_eventlog import admin, run_apart

FIXTURES = Path(__file__).parent / "fixtures"
LEGACY = FIXTURES / "legacy_migrations"
TS = "2026-11-30T00:00:00.000Z"

# A row in every table that the head-0007 history created.
LEGACY_ROWS: dict[str, list[dict[str, Any]]] = {
    "hub_events": [
        dict(topic="user:ann", seq=1, id="e1", type="note.legacy", ts=TS, data='{"n": 1}', meta="{}", stored_at=1.5),
        dict(topic="chat:lobby", seq=1, id="c1", type="chat.said", ts=TS, data='{"text": "hi"}', meta="{}", stored_at=2.5),
    ],
    "hub_topic_seqs": [dict(topic="user:ann", latest_seq=1), dict(topic="chat:lobby", latest_seq=1)],
    "hub_inbox": [dict(user_id="ann", topic="user:ann", seq=1, event_id="e1")],
    "hub_replays": [dict(n=1, id="r1", actor="root", requested_at=TS, filters='{"topic": "chat:lobby"}',
                         target_user=None, count=1, dry_run=True)],
    "notifications_items": [dict(n=1, id="n1", user_id="ann", title="Hello", body="A body", data='{"k": 1}',
                                 created_at=TS, read_at=None)],
    "presence_last_seen": [dict(user_id="ann", last_seen=TS)],
    "upload_progress_uploads": [dict(upload_id="u1", owner="ann", state="completed", filename="a.txt",
                                     content_type="text/plain", bytes=3, storage="local", url="/files/a.txt",
                                     public_id=None, error=None, created_at=TS, updated_at=TS)],
    "doc_processing_jobs": [dict(document_id="d1", owner="ann", processor="ocr", state="completed", stage="ocr",
                                 progress=1.0, message=None, result='{"text": "hi"}', error=None, file_path=None,
                                 filename="a.pdf", content_type="application/pdf", attempts=1, version=3,
                                 worker=None, lease_until=None, created_at=TS, updated_at=TS)],
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """``new_database()``: the URL of another empty database (a SQLite file, or a PostgreSQL database)."""
    made: list[str] = []
    # Resolved here, outside the test's event loop (the fixture checks the server with asyncio.run).
    server: str = request.getfixturevalue("postgres_available") if request.param == "postgres" else ""

    def make() -> str:
        name = f"hub_test_{secrets.token_hex(6)}"
        if request.param == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path / name}.db"
        run_apart(lambda: admin(server, f'CREATE DATABASE "{name}"'))
        made.append(name)
        return sa.make_url(server).set(database=name).render_as_string(hide_password=False)

    yield make
    for name in made:
        run_apart(lambda: admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def on_connection(url: str, work: Callable[[sa.Connection], Any], begin: bool = False) -> Any:
    engine = db.create_engine(url)
    try:
        async with (engine.begin() if begin else engine.connect()) as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


def build_legacy(connection: sa.Connection) -> None:
    """Migrate with the frozen history to 0007, as a hub before this change did, and fill every table."""
    from alembic import command

    config = db.alembic_config()
    config.set_main_option("version_locations", str(LEGACY))
    config.attributes["connection"] = connection
    command.upgrade(config, "0007")
    for table, rows in LEGACY_ROWS.items():
        columns = list(rows[0])
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
        connection.execute(sa.text(statement), rows)


def dump(connection: sa.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every hub and plugin table, in a stable order."""
    return {
        table: sorted((tuple(row) for row in connection.execute(sa.text(f"SELECT * FROM {table}"))), key=repr)
        for table in LEGACY_ROWS
    }


def schema(connection: sa.Connection) -> dict[str, Any]:
    """Each table's columns, keys, indexes and constraints, as the database reports them."""
    inspector = sa.inspect(connection)
    return {
        table: {
            "columns": [(c["name"], str(c["type"]), c["nullable"], str(c.get("default"))) for c in inspector.get_columns(table)],
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)),
            "unique": sorted((u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)),
            "foreign_keys": sorted(repr(fk) for fk in inspector.get_foreign_keys(table)),
        }
        for table in sorted(inspector.get_table_names())
    }


def hub_on(url: str, data_dir: Path, **env: str) -> RunningHub:
    return RunningHub(data_dir, {"HUB_DATABASE_URL": url, **env})


async def test_a_database_of_the_old_history_upgrades_with_nothing_lost(new_database: Callable[[], str],
                                                                         tmp_path: Path) -> None:
    legacy = new_database()
    await on_connection(legacy, build_legacy, begin=True)
    rows = await on_connection(legacy, dump)
    assert all(rows[table] for table in LEGACY_ROWS)

    upgraded = hub_db(legacy, "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert await on_connection(legacy, dump) == rows
    heads = branch_heads()
    current = hub_db(legacy, "current")
    assert current.stdout.splitlines() == [f"{branch}: {head} (up to date)" for branch, head in heads.items()]
    # Exactly the schema that a database created by today's migrations has.
    fresh = new_database()
    assert hub_db(fresh, "upgrade").returncode == 0
    assert await on_connection(legacy, schema) == await on_connection(fresh, schema)

    hub = hub_on(legacy, tmp_path / "hub").start()
    try:
        async with httpx.AsyncClient(base_url=hub.url) as http:
            assert (await http.get("/api/health")).status_code == 200
        ann = await SocketRecorder().connect(hub, hub.token("ann"))
        try:
            [queued] = await ann.wait_for("note.legacy")
            assert (queued["id"], queued["seq"], queued["data"]) == ("e1", 1, {"n": 1})
        finally:
            await ann.close()
    finally:
        hub.stop()


def ledger_site(target: Path) -> Path:
    """A directory that, on a hub's PYTHONPATH, installs the fixture plugin ``ledger`` (its package and metadata)."""
    shutil.copytree(FIXTURES / "hub_ledger", target / "hub_ledger", ignore=shutil.ignore_patterns("__pycache__"))
    info = target / "hub_ledger-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hub-ledger\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[hub.plugins]\nledger = hub_ledger\n")
    return target


async def test_enabling_then_disabling_then_removing_a_plugin(new_database: Callable[[], str], tmp_path: Path) -> None:
    url = new_database()
    site = str(ledger_site(tmp_path / "site"))
    sqlite = url.startswith("sqlite")
    assert hub_db(url, "upgrade", HUB_PLUGINS="presence", PYTHONPATH=site).returncode == 0

    # Enabled on an existing database: SQLite is migrated by the hub itself, a server is the operator's.
    hub = hub_on(url, tmp_path / "hub", HUB_PLUGINS="presence,ledger", PYTHONPATH=site)
    if not sqlite:
        with pytest.raises(RuntimeError) as refused:
            hub.start()
        assert f"the hub needs {db.head_revision()}, ledger_0002, presence_0001: run `hub db upgrade`" in str(refused.value)
        assert hub_db(url, "upgrade", HUB_PLUGINS="presence,ledger", PYTHONPATH=site).returncode == 0
    hub.start()
    try:
        await on_connection(url, lambda c: c.execute(sa.text(
            "INSERT INTO ledger_entries (n, note, amount) VALUES (1, 'first', 5)")), begin=True)
        async with hub.http() as http:
            reply = await http.get("/api/ledger/entries")
        assert reply.json() == {"entries": [{"n": 1, "note": "first", "amount": 5}]}
    finally:
        hub.stop()

    # Installed but not enabled: its revisions resolve, nothing of it is migrated or dropped.
    current = hub_db(url, "current", HUB_PLUGINS="presence", PYTHONPATH=site)
    assert "ledger: ledger_0002 (plugin not enabled: left as it is)" in current.stdout.splitlines()
    hub = hub_on(url, tmp_path / "hub", HUB_PLUGINS="presence", PYTHONPATH=site).start()
    hub.stop()

    # Uninstalled: the hub cannot know the stamped revision, so it neither starts nor migrates.
    with pytest.raises(RuntimeError, match="at revision .*ledger_0002.* run `hub db upgrade`"):
        hub_on(url, tmp_path / "hub", HUB_PLUGINS="presence").start()
    refused_upgrade = hub_db(url, "upgrade", HUB_PLUGINS="presence")
    assert refused_upgrade.returncode != 0
    assert "unknown: ledger_0002 (neither the hub nor any installed plugin has this revision)" in refused_upgrade.stderr
    assert await on_connection(url, lambda c: c.execute(sa.text("SELECT note FROM ledger_entries")).scalar()) == "first"


async def test_downgrading_a_plugins_base_drops_its_tables(new_database: Callable[[], str]) -> None:
    from alembic import command

    url = new_database()
    branches = plugin_branches(load_plugins(None))
    await db.upgrade_url(url, branches=branches)

    def downgrade(connection: sa.Connection) -> None:
        config = db.alembic_config(branches=branches)
        config.attributes["connection"] = connection
        command.downgrade(config, "presence@base")

    await on_connection(url, downgrade, begin=True)
    tables = await on_connection(url, lambda c: sa.inspect(c).get_table_names())
    assert "presence_last_seen" not in tables and {"notifications_items", "hub_events"} <= set(tables)
    assert "presence: none (needs presence_0001: run `hub db upgrade`)" in hub_db(url, "current").stdout.splitlines()


def test_a_plugin_branch_without_its_label_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    revision = (FIXTURES / "hub_ledger" / "migrations" / "ledger_0001_entries.py").read_text()
    (folder / "ledger_0001_entries.py").write_text(revision.replace('branch_labels = ("ledger",)', "branch_labels = None"))
    with pytest.raises(RuntimeError, match=r"plugin 'ledger': no revision in .* is labelled 'ledger'"):
        db.heads(db.Branches(enabled={"ledger": folder}))
