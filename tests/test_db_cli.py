"""``hub db upgrade`` and ``hub db current``, run as a user would: ``python -m hub`` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hub import db
from hub.eventlog.sql import SqlEventLog

from .test_eventlog import database_url, postgres_module_database, table_names  # noqa: F401 (fixtures)


def hub_db(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    env["HUB_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "hub", "db", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_upgrade_creates_the_tables_the_hub_starts_on(database_url: str) -> None:
    head = db.head_revision()
    before = hub_db(database_url, "current")
    assert before.returncode == 0, before.stderr
    assert "current: none" in before.stdout and "run `hub db upgrade`" in before.stdout

    upgraded = hub_db(database_url, "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"database at revision {head}" in upgraded.stdout
    assert {"alembic_version", "hub_events", "hub_inbox", "hub_topic_seqs"} <= set(await table_names(database_url))

    after = hub_db(database_url, "current")
    assert f"current: {head}" in after.stdout and "up to date" in after.stdout
    # Upgrading again is a no-op, and the hub starts on the result.
    assert hub_db(database_url, "upgrade").returncode == 0
    log = SqlEventLog(database_url)
    await log.start()
    await log.close()


def test_upgrade_refuses_a_database_that_is_not_sql() -> None:
    result = hub_db("memory://", "upgrade")
    assert result.returncode != 0
    assert "not a SQL database" in result.stderr


@pytest.mark.parametrize("command", ["upgrade", "current"])
def test_db_commands_have_help(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hub", "db", command, "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "Usage:" in result.stdout
