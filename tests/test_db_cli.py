"""``hub db upgrade`` and ``hub db current``, run as a user would: ``python -m hub`` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hub import db
from hub.eventlog.sql import SqlEventLog
from hub.plugin_schema import plugin_branches
from hub.plugins import load_plugins

from .test_eventlog import database_url, postgres_module_database, table_names  # noqa: F401 (fixtures)

BUILT_IN = ["analytics", "doc_processing", "notifications", "presence", "upload_progress"]


def hub_db(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m hub db <args>`` on ``url``, with no HUB_ variable of the test run but ``env``."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    environ.update(env, HUB_DATABASE_URL=url)
    return subprocess.run(
        [sys.executable, "-m", "hub", "db", *args], env=environ, capture_output=True, text=True, timeout=120
    )


def branch_heads(enabled: list[str] | None = None) -> dict[str, str]:
    """The head of the core's branch and of each enabled plugin's (None: every installed one)."""
    branches = plugin_branches(load_plugins(enabled))
    heads = db.heads(branches)
    return {branch: heads[branch] for branch in branches.migrated}


def test_every_built_in_plugin_has_a_branch_of_its_own() -> None:
    heads = branch_heads()
    assert heads == {"hub": db.head_revision(), **{name: f"{name}_0001" for name in BUILT_IN}}


async def test_upgrade_creates_the_tables_the_hub_starts_on(database_url: str) -> None:
    heads = branch_heads()
    before = hub_db(database_url, "current")
    assert before.returncode == 0, before.stderr
    assert before.stdout.splitlines() == [
        f"{branch}: none (needs {head}: run `hub db upgrade`)" for branch, head in heads.items()
    ]

    upgraded = hub_db(database_url, "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    at_heads = [f"{branch}: {head} (up to date)" for branch, head in heads.items()]
    assert upgraded.stdout.splitlines() == at_heads
    assert {"alembic_version", "hub_events", "hub_inbox", "hub_topic_seqs", "presence_last_seen",
            "notifications_items", "upload_progress_uploads", "doc_processing_jobs"} <= set(await table_names(database_url))

    assert hub_db(database_url, "current").stdout.splitlines() == at_heads
    # Upgrading again is a no-op, and the hub starts on the result.
    assert hub_db(database_url, "upgrade").returncode == 0
    log = SqlEventLog(database_url, plugin_branches(load_plugins(None)))
    await log.start()
    await log.close()


async def test_upgrade_migrates_only_the_enabled_plugins(database_url: str) -> None:
    heads = branch_heads()
    upgraded = hub_db(database_url, "upgrade", HUB_PLUGINS="presence")
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.splitlines() == [f"hub: {heads['hub']} (up to date)", "presence: presence_0001 (up to date)"]
    tables = set(await table_names(database_url))
    assert "presence_last_seen" in tables and "notifications_items" not in tables
    # Enabling another plugin later migrates its branch; a disabled one's stamp is shown, left as it is.
    assert hub_db(database_url, "upgrade", HUB_PLUGINS="notifications").returncode == 0
    current = hub_db(database_url, "current", HUB_PLUGINS="notifications").stdout.splitlines()
    assert current == [f"hub: {heads['hub']} (up to date)", "notifications: notifications_0001 (up to date)",
                       "presence: presence_0001 (plugin not enabled: left as it is)"]


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
