"""A connection storm on the default SQLite store: no write of the core or of a plugin meets SQLite's lock.

A real hub with presence (last seen on connect and disconnect) and a test plugin
that writes a row of its own per connection takes a few hundred Node
socket.io-client connections arriving and leaving at once, while durable events
are published over HTTP. SQLite's busy timeout is 0 in this hub (the plugin sets
it), so any write that waited on SQLite's lock instead of the hub's one writer
would fail with "database is locked".
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from hub.testing import RunningHub, start_hub
from tests.support import plugin_site
from tests.test_node_client import NODE_DIR, node  # noqa: F401  (the fixture that finds Node or skips)

CONNECTIONS = 300
pytestmark = pytest.mark.node


async def publish_until(hub: RunningHub, done: asyncio.Event, statuses: list[int]) -> None:
    """Durable publishes into users' inboxes, 10 at a time, until ``done``."""
    async with httpx.AsyncClient(base_url=hub.url, headers=hub.headers(), timeout=30) as http:
        async def one(n: int) -> None:
            response = await http.post(
                "/api/publish", json={"topic": f"user:u{n % CONNECTIONS}", "type": "storm.event", "data": {"n": n}}
            )
            statuses.append(response.status_code)

        n = 0
        while not done.is_set():
            await asyncio.gather(*(one(n + k) for k in range(10)))
            n += 10


async def connections(hub: RunningHub) -> int:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        return int((await http.get("/api/health")).json()["connections"])


async def test_a_connection_storm_with_presence_and_publishes_meets_no_lock(node: str, tmp_path: Path) -> None:
    site = plugin_site(tmp_path / "site", "hub_writer_probe", "writer_probe")
    python_path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    database = tmp_path / "hub" / "hub.db"
    hub = start_hub(tmp_path / "hub", env={
        "HUB_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "PYTHONPATH": python_path,
        "WRITER_PROBE_NO_BUSY_WAIT": "1",
        "HUB_RATE_LIMIT": "100000",
        "HUB_RATE_BURST": "100000",
    })
    try:
        tokens = tmp_path / "tokens.json"
        tokens.write_text(json.dumps([hub.token(f"u{n}") for n in range(CONNECTIONS)]))
        env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
        env.update(HUB_URL=hub.url, HUB_TOKENS_FILE=str(tokens), NODE_TEST_TIMEOUT_MS="50000")

        statuses: list[int] = []
        done = asyncio.Event()
        publisher = asyncio.create_task(publish_until(hub, done, statuses))
        storm = await asyncio.create_subprocess_exec(
            node, "connection_storm.mjs", cwd=NODE_DIR, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(storm.communicate(), 55)
        assert storm.returncode == 0, f"{err.decode()}\nhub log:\n{hub.log()}"
        result = json.loads(out.decode().strip().splitlines()[-1])
        assert result["welcomed"] == CONNECTIONS, result
        # Publishing goes on while the hub handles the disconnects (presence writes each user's last seen).
        deadline = time.monotonic() + 20
        while await connections(hub) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        done.set()
        await publisher
    finally:
        hub.stop()
    log = hub.log()
    assert "database is locked" not in log, log
    assert "Traceback" not in log, log
    assert statuses and set(statuses) == {201}, sorted(set(statuses))
    with sqlite3.connect(database) as connection:
        probe_rows = connection.execute("SELECT count(*) FROM writer_probe_connects").fetchone()[0]
        last_seen = connection.execute("SELECT count(*) FROM presence_last_seen").fetchone()[0]
        stored = connection.execute("SELECT count(*) FROM hub_events WHERE type = 'storm.event'").fetchone()[0]
    assert (probe_rows, last_seen, stored) == (CONNECTIONS, CONNECTIONS, len(statuses))
