"""A Redis outage: each process streams its own figures and says the cluster view is degraded."""

from __future__ import annotations

from pathlib import Path

from hub.testing import welcomed
from tests.support.cluster import Pair, RedisServer

from .support import FAST, next_tick


async def test_during_a_redis_outage_each_process_streams_its_own(
    tmp_path: Path, own_redis: RedisServer, postgres_database: str
) -> None:
    hubs = Pair(tmp_path, own_redis.url, postgres_database, **FAST)
    try:
        a, b = hubs.start("a"), hubs.start("b")
        watchers = [await welcomed(hub, f"root-{hub.env['HUB_INSTANCE_ID']}", ("admin",)) for hub in (a, b)]
        hubs.clients.extend(watchers)
        for watcher in watchers:
            assert (await watcher.call("subscribe", {"topic": "stats:cluster"}))["ok"]
            await next_tick(watcher, lambda d: d["nodes"] == ["a", "b"] and not d["degraded"])

        own_redis.kill()
        for watcher, name in zip(watchers, ("a", "b")):
            data = await next_tick(watcher, lambda d: d["degraded"], timeout=15)
            assert data["nodes"] == [name] and data["health"]["broker"] == "degraded"
            # Still streaming, its own figures.
            again = await next_tick(watcher, lambda d: d["at"] > data["at"])
            assert again["degraded"] and again["connections"]["total"] >= 1

        own_redis.start()
        for watcher in watchers:
            await next_tick(watcher, lambda d: d["nodes"] == ["a", "b"] and not d["degraded"], timeout=20)
    finally:
        await hubs.close()
