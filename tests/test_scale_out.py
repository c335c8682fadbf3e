"""Several hub processes behind one address: two real ``hub serve`` processes on two ports,
sharing Redis (fan-out and presence) and a PostgreSQL database.

Redis is 127.0.0.1:6379 (``HUB_TEST_REDIS_URL``); the outage test starts a
Redis server of its own on a free port and stops and restarts it. The two
processes are :class:`tests.support.cluster.Pair`. Without Redis or PostgreSQL
the tests skip, and fail instead under ``HUB_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from hub.testing import RunningHub
from tests.support.cluster import (
    GRACE, Pair, RedisServer, consecutive_free_ports, eventually, forget_prefix, health, metric,
)

# Events -----------------------------------------------------------------------


async def test_both_processes_report_the_broker(pair: Pair) -> None:
    a, b = pair.hubs
    for hub, name in ((a, "a"), (b, "b")):
        status, report = await health(hub)
        assert status == 200 and report["broker"] == "ok" and report["instance"] == name, report
        assert await metric(hub, "hub_broker_up") == 1.0


async def test_events_published_on_b_reach_a_over_http_and_socket(pair: Pair) -> None:
    a, b = pair.hubs
    reader = await pair.connect(a, "reader")
    writer = await pair.connect(b, "writer")
    assert (await reader.call("subscribe", {"topic": "feed:news"}))["ok"]

    by_http = await b.publish("feed:news", "news.posted", {"via": "http"})
    by_socket = await writer.call("publish", {"topic": "feed:news", "type": "news.posted", "data": {"via": "socket"}})
    assert by_socket["ok"], by_socket

    got = await reader.wait_for("news.posted", count=2)
    assert [(event["data"]["via"], event["seq"], event["id"]) for event in got] == [
        ("http", 1, by_http["id"]), ("socket", 2, by_socket["id"]),
    ]
    # Published through A this time: the sender's process is no special case either way.
    await a.publish("feed:news", "news.posted", {"via": "a"})
    assert (await reader.wait_for("news.posted", count=3))[2]["seq"] == 3
    await asyncio.sleep(0.3)
    assert len(reader.of_type("news.posted")) == 3  # each once, not once per process


async def test_the_inbox_works_across_processes(pair: Pair) -> None:
    a, b = pair.hubs
    phone = await pair.connect(a, "olivia")
    laptop = await pair.connect(b, "olivia")
    first = await b.publish("user:olivia", "note.added", {"n": 1})
    second = await a.publish("user:olivia", "note.added", {"n": 2})
    for device in (phone, laptop):
        got = await device.wait_for("note.added", count=2)
        assert [event["id"] for event in got] == [first["id"], second["id"]]
    # Acknowledged on A, the queue is shared: a new connection on B gets only the rest.
    assert await phone.call("ack", {"ids": [first["id"]]}) == {"ok": True, "acked": 1}
    tablet = await pair.connect(b, "olivia")
    assert [event["id"] for event in await tablet.wait_for("note.added")] == [second["id"]]
    await asyncio.sleep(0.3)
    assert len(tablet.of_type("note.added")) == 1


# Presence ----------------------------------------------------------------------


async def test_presence_joins_typing_and_leaves_cross_processes(pair: Pair) -> None:
    a, b = pair.hubs
    alice = await pair.connect(a, "alice", name="Alice")
    assert (await alice.call("subscribe", {"topic": "presence:lobby"}))["ok"]
    bob = await pair.connect(b, "bob", name="Bob")
    reply = await bob.call("subscribe", {"topic": "presence:lobby"})
    # B's snapshot counts A's member: one shared state.
    assert {m["user"]: m["connections"] for m in reply["snapshot"]["members"]} == {"alice": 1, "bob": 1}
    joined = await alice.wait_for("presence.joined", lambda e: e["data"]["user"] == "bob")
    assert joined[0]["data"]["name"] == "Bob"

    # A second connection of bob, on A this time: no second join.
    bob_again = await pair.connect(a, "bob")
    assert (await bob_again.call("subscribe", {"topic": "presence:lobby"}))["ok"]
    async with a.http() as http:
        users = (await http.get("/api/presence/users", params={"ids": "alice,bob,carol"}, headers=a.headers("x", ()))).json()
    assert [(u["user"], u["online"]) for u in users["users"]] == [("alice", True), ("bob", True), ("carol", False)]

    # Typing on B reaches A, and never bob's own connection on A.
    assert (await bob.call("presence.typing", {"room": "lobby", "typing": True}))["ok"]
    typing = await alice.wait_for("presence.typing")
    assert typing[0]["data"] == {"user": "bob", "typing": True}

    # Bob's connection on A leaves: he is still in through B, so nobody is told.
    assert (await bob_again.call("unsubscribe", {"topic": "presence:lobby"}))["ok"]
    assert (await bob.call("unsubscribe", {"topic": "presence:lobby"}))["ok"]
    await alice.wait_for("presence.left", lambda e: e["data"]["user"] == "bob")
    assert len([e for e in alice.of_type("presence.left") if e["data"]["user"] == "bob"]) == 1
    assert len([e for e in alice.of_type("presence.joined") if e["data"]["user"] == "bob"]) == 1
    assert bob_again.of_type("presence.typing") == []
    # Leaving while shown typing: the room was told it stopped, before the leave.
    kinds = [(event, data["data"].get("typing")) for event, data in alice.events if event.startswith("presence.")]
    assert kinds[-2:] == [("presence.typing", False), ("presence.left", None)]


async def test_users_of_a_killed_process_leave_after_the_grace_period(pair: Pair) -> None:
    a, b = pair.hubs
    alice = await pair.connect(a, "alice")
    assert (await alice.call("subscribe", {"topic": "presence:ops"}))["ok"]
    bob = await pair.connect(b, "bob")
    assert (await bob.call("subscribe", {"topic": "presence:ops"}))["ok"]
    await alice.wait_for("presence.joined", lambda e: e["data"]["user"] == "bob")

    b.kill()  # SIGKILL: no goodbye, no clean-up
    killed = time.monotonic()
    left = await alice.wait_for("presence.left", lambda e: e["data"]["user"] == "bob", timeout=GRACE + 10)
    waited = time.monotonic() - killed
    assert left[0]["data"] == {"user": "bob"}
    assert GRACE * 0.9 <= waited <= GRACE + 5, waited
    # Gone for every question asked of the survivors too.
    async with a.http() as http:
        users = (await http.get("/api/presence/users", params={"ids": "bob"}, headers=a.headers("x", ()))).json()
    assert users["users"][0]["online"] is False
    reply = await (await pair.connect(a, "carol")).call("subscribe", {"topic": "presence:ops"})
    assert [member["user"] for member in reply["snapshot"]["members"]] == ["alice", "carol"]


# Broker failures -----------------------------------------------------------------


async def test_a_redis_outage_loses_no_durable_event(
    tmp_path: Path, own_redis: RedisServer, postgres_database: str
) -> None:
    hubs = Pair(tmp_path, own_redis.url, postgres_database)
    try:
        a, b = hubs.start("a"), hubs.start("b")
        reader = await hubs.connect(a, "reader")
        assert (await reader.call("subscribe", {"topic": "feed:ticks"}))["ok"]

        published: list[dict[str, Any]] = []

        async def publish(count: int) -> None:
            for _ in range(count):
                published.append(await b.publish("feed:ticks", "tick.sent", {"n": len(published) + 1}))
                await asyncio.sleep(0.02)

        await publish(10)
        await reader.wait_for("tick.sent", count=10)

        own_redis.kill()
        # Publishing goes on: every event is stored, so every request succeeds.
        during = asyncio.create_task(publish(20))
        for hub in (a, b):
            status, report = await eventually(lambda hub=hub: _down(hub))
            assert status == 503 and report["status"] == "degraded" and report["broker"].startswith("down: ")
            assert await metric(hub, "hub_broker_up") == 0.0
        await during
        assert await metric(b, "hub_broker_publish_failures_total") >= 1

        own_redis.start()
        for hub in (a, b):
            await eventually(lambda hub=hub: _up(hub))
            assert await metric(hub, "hub_broker_up") == 1.0
        await publish(10)

        # Every event reaches the reader, live or recovered from the log, each once, in order.
        got = await reader.wait_for("tick.sent", count=40, timeout=20)
        assert [event["seq"] for event in got] == list(range(1, 41))
        assert [event["id"] for event in got] == [p["id"] for p in published]
        # Resubscribing with since (what hub.client does after a reconnect) adds nothing more.
        reply = await reader.call("subscribe", {"topic": "feed:ticks", "since": got[-1]["seq"]})
        assert reply["ok"] and reply["recovered"] is True and reply["seq"] == 40
        await asyncio.sleep(0.5)
        assert len(reader.of_type("tick.sent")) == 40
        assert await metric(a, "hub_broker_outages_total") >= 1
        # The 20 published during the outage never crossed Redis: A sent them from the log.
        assert await metric(a, "hub_broker_recovered_events_total") == 20
    finally:
        await hubs.close()


async def _down(hub: RunningHub) -> tuple[int, dict[str, Any]] | None:
    status, report = await health(hub)
    return (status, report) if report["broker"] != "ok" else None


async def _up(hub: RunningHub) -> bool:
    status, report = await health(hub)
    return status == 200 and report["broker"] == "ok"


# Running several processes ---------------------------------------------------------


async def test_serve_workers_runs_processes_on_consecutive_ports(
    tmp_path: Path, redis_url: str, postgres_database: str
) -> None:
    hubs = Pair(tmp_path, redis_url, postgres_database)
    port = consecutive_free_ports(2)
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    env.update(hubs.env, HUB_DATA_DIR=str(tmp_path / "workers"), HUB_LOG_LEVEL="warning")
    log = open(tmp_path / "workers.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "hub", "serve", "--port", str(port), "--workers", "2"], env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        urls = [f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"]

        async def all_up() -> bool:
            try:
                async with httpx.AsyncClient() as http:
                    reports = [(await http.get(url + "/api/health")).json() for url in urls]
            except httpx.HTTPError:
                return False
            return all(report["broker"] == "ok" for report in reports)

        await eventually(all_up, timeout=30)
        first, second = (RunningHub(tmp_path / "w", port=p) for p in (port, port + 1))
        for worker in (first, second):
            worker.secret = hubs.secret
        reader = await hubs.connect(first, "reader")
        assert (await reader.call("subscribe", {"topic": "feed:w"}))["ok"]
        await second.publish("feed:w", "w.done", {})
        await reader.wait_for("w.done")
        await reader.close()
    finally:
        process.terminate()
        try:
            assert process.wait(20) == 0
        finally:
            if process.poll() is None:
                process.kill()
            log.close()
            forget_prefix(redis_url, hubs.prefix)
