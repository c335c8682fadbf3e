"""Two hub processes on Redis and PostgreSQL: the cluster's figures, exact, and a process that dies.

50 clients (25 on each process) publish 10,000 events, each to a topic whose
subscriber is on the other process; the stream's totals must equal what the
clients counted, and its p99 delivery latency must be within 20 % of the p99
the clients measured (receive time minus the envelope's ``ts``, the publish time).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import socketio

from hub.testing import RunningHub, welcomed
from tests.support.cluster import Pair, eventually

from .support import FAST, history, next_tick, scrape, total

CLIENTS = 50
EVENTS = 10_000
#: One publish in flight per client (50 in all): enough to load both hubs, few enough that the
#: test's own event loop (which receives every event too) does not queue them and skew the
#: clients' timing; and one topic's events are published in order.
IN_FLIGHT = 1


class Client:
    """A python-socketio client that timestamps each ``feed.msg`` as soon as it is handed over."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.latencies: list[float] = []
        self.welcomed = asyncio.Event()
        self.sio.on("hub.welcome", self._welcome)
        self.sio.on("feed.msg", self._message)

    async def _welcome(self, envelope: Any) -> None:
        self.welcomed.set()

    async def _message(self, envelope: dict[str, Any]) -> None:
        received = time.time()
        self.latencies.append(received - datetime.fromisoformat(envelope["ts"]).timestamp())

    async def connect(self, hub: RunningHub, user: str) -> Client:
        await self.sio.connect(hub.url, auth={"token": hub.token(user)}, transports=["websocket"], wait_timeout=10)
        await asyncio.wait_for(self.welcomed.wait(), 10)
        return self

    async def publish_all(self, topic: str, count: int) -> int:
        sent = 0
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def one(i: int) -> None:
            nonlocal sent
            async with gate:
                reply = await self.sio.call("publish", {"topic": topic, "type": "feed.msg", "data": {"i": i}}, timeout=60)
            assert reply["ok"], reply
            sent += 1

        await asyncio.gather(*(one(i) for i in range(count)))
        return sent


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


async def test_fifty_clients_on_two_processes_then_one_dies(tmp_path: Path, redis_url: str, postgres_database: str) -> None:
    hubs = Pair(tmp_path, redis_url, postgres_database, **FAST)
    a, b = hubs.start("a"), hubs.start("b")
    clients: list[Client] = []
    try:
        admin = await welcomed(a, "root", ("admin",))
        hubs.clients.append(admin)
        assert (await admin.call("subscribe", {"topic": "stats:cluster"}))["ok"]
        await next_tick(admin, lambda d: d["nodes"] == ["a", "b"])
        clients = [await Client().connect(a if i % 2 == 0 else b, f"c{i}") for i in range(CLIENTS)]
        for i, client in enumerate(clients):
            assert (await client.sio.call("subscribe", {"topic": f"feed:c{i}"}, timeout=10))["ok"]
        # Client i publishes to the topic of client i+1, which is on the other process.
        per_client = EVENTS // CLIENTS
        sent = await asyncio.gather(*(
            client.publish_all(f"feed:c{(i + 1) % CLIENTS}", per_client) for i, client in enumerate(clients)
        ))
        assert sum(sent) == EVENTS
        deadline = time.monotonic() + 60
        while sum(len(c.latencies) for c in clients) < EVENTS and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        received = [latency for client in clients for latency in client.latencies]
        assert len(received) == EVENTS

        def complete(data: dict[str, Any]) -> bool:
            return (data["published"]["by_kind"].get("feed", {}).get("total") == EVENTS
                    and data["deliveries"]["by_kind"].get("feed", {}).get("total") == EVENTS)

        data = await next_tick(admin, complete, timeout=20)
        assert data["nodes"] == ["a", "b"] and data["degraded"] is False
        assert data["connections"]["total"] == CLIENTS + 1
        assert {(t["kind"], t["type"]): t["total"] for t in data["published"]["by_type"]}[("feed", "feed.msg")] == EVENTS

        measured, reported = p99(received), data["latency"]["p99"]
        print(f"p99 delivery latency: clients measured {measured * 1000:.1f} ms, the stream reports {reported * 1000:.1f} ms")
        assert abs(reported - measured) <= 0.2 * measured, (reported, measured)

        # One set of numbers: each process's /metrics, added up, is the stream.
        scraped = [await scrape(a), await scrape(b)]
        assert sum(total(s, "hub_events_published_total", kind="feed") for s in scraped) == EVENTS
        assert sum(total(s, "hub_deliveries_by_type_total", kind="feed") for s in scraped) == EVENTS
        assert all(total(s, "hub_deliveries_by_type_total", kind="feed") > 0 for s in scraped)
        assert sum(total(s, "hub_connections") for s in scraped) == data["connections"]["total"]

        # History on either process holds both processes' intervals, the current one included.
        async def stored_everything() -> dict[str, Any] | None:
            response = await history(b, step="3600")
            assert response.status_code == 200, response.text
            points = response.json()["points"]
            published = sum(p["published_by_kind"].get("feed", 0) for p in points)
            return response.json() if published == EVENTS else None

        report = await eventually(stored_everything)
        assert max(p["nodes"] for p in report["points"]) == 2

        for client in clients:
            await client.sio.disconnect()
        clients = []
        # A process dies: within 5 s the stream no longer counts it, and the survivor streams on.
        b.kill()
        killed = time.monotonic()
        await next_tick(admin, lambda d: d["nodes"] == ["a"], timeout=10)
        assert time.monotonic() - killed < 5.0
        after = await next_tick(admin, lambda d: d["nodes"] == ["a"])
        later = await next_tick(admin, lambda d: d["at"] > after["at"])
        assert later["nodes"] == ["a"] and later["health"]["database"] == "ok"
    finally:
        for client in clients:
            await client.sio.disconnect()
        await hubs.close()
