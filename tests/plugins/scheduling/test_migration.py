"""The migration on a PostgreSQL database whose user may not create the btree_gist extension: it stops,
saying what the database administrator must run; once they have, it goes through."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import _admin


def upgrade(url: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    env["HUB_DATABASE_URL"] = url
    return subprocess.run([sys.executable, "-m", "hub", "db", "upgrade"], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def restricted(postgres_available: str) -> Iterator[tuple[str, str]]:
    """A fresh database, and the URL of a user who may create tables in it but not extensions."""
    name, role = f"hub_test_{secrets.token_hex(6)}", f"hub_limited_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE ROLE "{role}" LOGIN'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    admin_url = postgres_available.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(_grant(admin_url, role))
    host = postgres_available.split("@", 1)[1].rsplit("/", 1)[0]
    try:
        yield f"postgresql+asyncpg://{role}@{host}/{name}", admin_url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(_admin(f'DROP ROLE IF EXISTS "{role}"'))


async def _grant(url: str, role: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
    try:
        await connection.execute(f'GRANT ALL ON SCHEMA public TO "{role}"')
    finally:
        await connection.close()


async def _run(url: str, sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.mark.postgres
def test_without_btree_gist_the_upgrade_says_what_to_run(restricted: tuple[str, str]) -> None:
    url, admin_url = restricted
    refused = upgrade(url)
    assert refused.returncode != 0
    assert "CREATE EXTENSION IF NOT EXISTS btree_gist" in refused.stderr, refused.stderr
    assert "database administrator" in refused.stderr
    asyncio.run(_run(admin_url, "CREATE EXTENSION IF NOT EXISTS btree_gist"))
    done = upgrade(url)
    assert done.returncode == 0, done.stderr
    assert "scheduling: scheduling_0001" in done.stdout
