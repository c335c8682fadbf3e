"""Shared fixtures. The hub's own pytest plugin (hub.testing) provides hub_server and hub_socket.

``database_url`` runs a test once on a SQLite file and once on a fresh
PostgreSQL database. PostgreSQL tests skip with a reason when the server is
unreachable, and fail instead when HUB_REQUIRE_SERVICES=1 (as in CI).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.cluster import REDIS_URL, Pair, RedisServer, ping_redis

POSTGRES_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REQUIRE_SERVICES = os.environ.get("HUB_REQUIRE_SERVICES") == "1"

# Fixture distributions carry tests of their own (tests/fixtures/hub-bookmarks-plugin/tests), which
# need their plugin installed: tests/test_third_party_plugin.py installs it and runs them.
collect_ignore = ["fixtures"]


def unavailable(reason: str) -> None:
    """Skip the test for a missing service, or fail it under HUB_REQUIRE_SERVICES=1 (as in CI)."""
    if REQUIRE_SERVICES:
        pytest.fail(reason + " (HUB_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _admin(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(_plain(POSTGRES_URL), timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_available() -> str:
    """The PostgreSQL admin URL; skips (or fails under HUB_REQUIRE_SERVICES=1) when unreachable."""
    try:
        asyncio.run(_admin("SELECT 1"))
    except Exception as exc:  # any failure to reach the server means "not here"
        unavailable(f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}: {exc}")
    return POSTGRES_URL


def migrate(url: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    env["HUB_DATABASE_URL"] = url
    subprocess.run([sys.executable, "-m", "hub", "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)


@pytest.fixture
def postgres_database(postgres_available: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test, dropped afterwards."""
    name = f"hub_test_{secrets.token_hex(6)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = postgres_available.rsplit("/", 1)[0] + f"/{name}"
    try:
        migrate(url)
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database for the hub under test: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'events.db'}"
    return str(request.getfixturevalue("postgres_database"))


# Several hub processes (tests/support/cluster.py) --------------------------------


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared Redis (``HUB_TEST_REDIS_URL``); skips (or fails under HUB_REQUIRE_SERVICES=1) when unreachable."""
    try:
        ping_redis(REDIS_URL)
    except Exception as exc:
        unavailable(f"Redis not reachable at {REDIS_URL}: {type(exc).__name__}: {exc}")
    return REDIS_URL


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A ``redis-server`` of the test's own, which the test may stop and start."""
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def pair(tmp_path: Path, redis_url: str, postgres_database: str) -> AsyncIterator[Pair]:
    """Two hub processes, ``a`` and ``b``, on one Redis and one PostgreSQL database."""
    hubs = Pair(tmp_path, redis_url, postgres_database)
    hubs.start("a")
    hubs.start("b")
    yield hubs
    await hubs.close()
