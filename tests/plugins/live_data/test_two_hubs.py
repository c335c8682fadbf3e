"""Two hub processes on Redis and PostgreSQL: each change reaches each subscriber once; one drainer at a time."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.cluster import Pair, eventually

from .support import LiveList, listing

COLLECTIONS = {"cases": {"source": {"table": "cases", "key": "id"}}, "notes": {}}


async def test_two_hubs_deliver_each_change_once_and_hand_the_outbox_over(
    tmp_path: Path, redis_url: str, postgres_database: str
) -> None:
    engine = create_async_engine(postgres_database)
    async with engine.begin() as connection:
        await connection.execute(sa.text("CREATE TABLE cases (id INTEGER PRIMARY KEY, status TEXT)"))
    from .test_triggers import cli

    cli("install-triggers", "--table", "cases", "--url", postgres_database)
    pair = Pair(
        tmp_path, redis_url, postgres_database,
        HUB_PLUGIN_LIVE_DATA_COLLECTIONS=json.dumps(COLLECTIONS), HUB_PLUGIN_LIVE_DATA_SOURCE_URL=postgres_database,
        HUB_PLUGIN_LIVE_DATA_LEASE_SECONDS="1.5", HUB_PLUGIN_LIVE_DATA_POLL_INTERVAL="0.1",
    )
    try:
        a = pair.start("a")
        async with engine.begin() as connection:
            await connection.execute(sa.text("INSERT INTO cases VALUES (0, 'first')"))
        # A drains alone until B starts: A holds the lease.
        await eventually(lambda: _has(a, "cases", "0"), timeout=20)
        b = pair.start("b")
        on_a = LiveList(await pair.connect(a, "ops-a"), "live:notes")
        on_b = LiveList(await pair.connect(b, "ops-b"), "live:notes")
        for live in (on_a, on_b):
            await live.subscribe()  # plain users: "notes" is configured, readable by anyone

        async def write(hub, start: int) -> None:
            async with hub.http() as http:
                for number in range(start, start + 100):
                    response = await http.put(f"/api/live/notes/n{number % 30}", json={"v": number}, headers=hub.headers())
                    assert response.status_code == 200, response.text

        await asyncio.gather(write(a, 0), write(b, 1000))
        final = await listing(a, "notes")

        async def agreed() -> bool:
            on_a.catch_up()
            on_b.catch_up()
            return on_a.records == final and on_b.records == final

        await eventually(agreed, timeout=30)
        for live in (on_a, on_b):
            seqs = [event["seq"] for event in live.applied]
            assert len(seqs) == len(set(seqs)) == 200  # every change, each once
        # The drainer's process dies: the other takes the outbox over once the lease ends.
        watcher = LiveList(await pair.connect(b, "ops-c"), "live:cases")
        await watcher.subscribe()
        a.kill()
        async with engine.begin() as connection:
            await connection.execute(sa.text("INSERT INTO cases VALUES (1, 'after the crash')"))

        async def handed_over() -> bool:
            watcher.catch_up()
            return "1" in watcher.records

        await eventually(handed_over, timeout=30)
    finally:
        await pair.close()
        await engine.dispose()


async def _has(hub, collection: str, key: str) -> bool:
    return key in await listing(hub, collection)
