"""Durable events end to end: the offline queue, recovery with `since`, idempotency,
crash safety and retention, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from hub.testing import RunningHub, SocketRecorder, start_hub, welcomed
from tests.support import plugin_site


def start_feed_hub(tmp_path: Path, database_url: str, port: int | None = None, **env: str) -> RunningHub:
    """A hub with the test plugin `feed` (durable, clients may publish) on ``database_url``."""
    site = plugin_site(tmp_path / "site", "hub_feed", "feed")
    python_path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    settings = {
        "HUB_DATABASE_URL": database_url,
        "PYTHONPATH": python_path,
        # These tests publish hundreds of requests from one connection on purpose.
        "HUB_RATE_LIMIT": "100000",
        "HUB_RATE_BURST": "100000",
        **env,
    }
    return start_hub(tmp_path / "hub", env=settings, port=port)


connect = welcomed  # a client that has received hub.welcome


def seqs(events: list[dict]) -> list[int]:
    return [event["seq"] for event in events]


async def test_offline_queue_in_order_until_acknowledged(tmp_path: Path, database_url: str) -> None:
    hub = start_feed_hub(tmp_path, database_url)
    try:
        published = [await hub.publish("user:olivia", "note.added", {"n": n}) for n in range(20)]
        # Two devices connect: each gets the whole queue, in order.
        phone, laptop = await connect(hub, "olivia"), await connect(hub, "olivia")
        for device in (phone, laptop):
            got = await device.wait_for("note.added", count=20)
            assert [event["data"]["n"] for event in got] == list(range(20))
            assert seqs(got) == [p["seq"] for p in published] == sorted(seqs(got))
        await laptop.close()
        # Not acknowledged: delivered again on the next connect.
        again = await connect(hub, "olivia")
        assert [e["id"] for e in await again.wait_for("note.added", count=20)] == [p["id"] for p in published]
        reply = await again.call("ack", {"ids": [p["id"] for p in published[:15]] + ["unknown-id"]})
        assert reply == {"ok": True, "acked": 15}
        await again.close()
        await phone.close()
        # Acknowledged ones never again; the rest still come, in order.
        later = await connect(hub, "olivia")
        assert [e["data"]["n"] for e in await later.wait_for("note.added", count=5)] == list(range(15, 20))
        await later.call("ack", {"ids": [p["id"] for p in published[15:]]})
        await later.close()
        last = await connect(hub, "olivia")
        await hub.publish("user:olivia", "marker.event", {})
        await last.wait_for("marker.event")
        assert last.of_type("note.added") == []
        await last.close()
        # Another user's ack cannot clear olivia's queue.
        other = await connect(hub, "mallory")
        marker = await hub.publish("user:olivia", "note.added", {"n": 99})
        assert (await other.call("ack", {"ids": [marker["id"]]}))["acked"] == 0
        await other.close()
    finally:
        hub.stop()


async def test_recovery_after_a_dropped_connection_while_500_events_are_published(
    tmp_path: Path, database_url: str
) -> None:
    hub = start_feed_hub(tmp_path, database_url)
    publisher = await connect(hub, "publisher")
    try:
        reader = await connect(hub, "reader")
        await reader.call("subscribe", {"topic": "feed:news"})
        for n in range(3):
            await publisher.call("publish", {"topic": "feed:news", "type": "news.item", "data": {"n": n}})
        seen = await reader.wait_for("news.item", count=3)
        last_seq = seen[-1]["seq"]
        await reader.close()

        async def publish_many(start: int, count: int) -> None:
            for n in range(start, start + count):
                reply = await publisher.call("publish", {"topic": "feed:news", "type": "news.item", "data": {"n": n}})
                assert reply["ok"], reply

        await publish_many(3, 500)
        # Live events keep coming while the reader reconnects and catches up.
        live = asyncio.create_task(publish_many(503, 100))
        back = await connect(hub, "reader")
        reply = await back.call("subscribe", {"topic": "feed:news", "since": last_seq})
        assert reply["ok"] and reply["recovered"] is True
        await live
        got = await back.wait_for("news.item", count=600, timeout=60)
        assert seqs(got) == list(range(last_seq + 1, last_seq + 601)), "gap, duplicate or disorder"
        assert [e["data"]["n"] for e in got] == list(range(3, 603))
        await asyncio.sleep(0.2)
        assert len(back.of_type("news.item")) == 600
        await back.close()
    finally:
        await publisher.close()
        hub.stop()


async def test_publish_retried_with_the_same_id_lands_once(tmp_path: Path, database_url: str) -> None:
    hub = start_feed_hub(tmp_path, database_url)
    try:
        reader, writer = await connect(hub, "r"), await connect(hub, "w")
        await reader.call("subscribe", {"topic": "feed:pay"})
        message = {"topic": "feed:pay", "type": "pay.done", "data": {"amount": 5}, "id": "pay-42"}
        replies = await asyncio.gather(*(writer.call("publish", message) for _ in range(5)))
        assert all(reply == {"ok": True, "id": "pay-42", "seq": replies[0]["seq"]} for reply in replies)
        await writer.call("publish", {"topic": "feed:pay", "type": "pay.marker", "data": {}})
        await reader.wait_for("pay.marker")
        assert len(reader.of_type("pay.done")) == 1
        again = await hub.publish("feed:pay", "pay.done", {"amount": 5}, id="pay-42")
        assert again == {"id": "pay-42", "seq": replies[0]["seq"]}
        await reader.close()
        await writer.close()
    finally:
        hub.stop()


async def test_sigkill_right_after_acknowledged_publishes_loses_nothing(tmp_path: Path, database_url: str) -> None:
    hub = start_feed_hub(tmp_path, database_url)
    replies = await asyncio.gather(*(hub.publish("feed:crash", "crash.test", {"n": n}) for n in range(200)))
    hub.kill()
    restarted = start_feed_hub(tmp_path, database_url, port=hub.port)
    try:
        client = await connect(restarted, "survivor")
        reply = await client.call("subscribe", {"topic": "feed:crash", "since": 0})
        assert reply["seq"] == 200 and reply["recovered"] is True
        got = await client.wait_for("crash.test", count=200)
        assert sorted(e["id"] for e in got) == sorted(r["id"] for r in replies)
        assert seqs(got) == list(range(1, 201))
        await client.close()
    finally:
        restarted.stop()


async def test_retention_makes_recovery_incomplete(tmp_path: Path, database_url: str) -> None:
    hub = start_feed_hub(tmp_path, database_url, HUB_PLUGIN_FEED_KEEP="5", HUB_RETENTION_INTERVAL="0.1")
    try:
        for n in range(20):
            await hub.publish("feed:short", "short.item", {"n": n})
        probe = await connect(hub, "probe")
        for _ in range(100):  # the retention pass runs every 0.1 s
            if (await probe.call("subscribe", {"topic": "feed:short", "since": 2}))["recovered"] is False:
                break
            await asyncio.sleep(0.1)
        await probe.close()
        # The first pass may have run while the last publishes landed; a few more make it settle.
        await asyncio.sleep(0.5)
        client = await connect(hub, "late")
        reply = await client.call("subscribe", {"topic": "feed:short", "since": 2})
        assert reply["recovered"] is False and reply["seq"] == 20
        # What the log still holds comes anyway, so the client can resync from there.
        assert seqs(await client.wait_for("short.item", count=5)) == [16, 17, 18, 19, 20]
        fresh = await connect(hub, "late2")
        reply = await fresh.call("subscribe", {"topic": "feed:short", "since": 17})
        assert reply["recovered"] is True
        assert seqs(await fresh.wait_for("short.item", count=3)) == [18, 19, 20]
        await client.close()
        await fresh.close()
    finally:
        hub.stop()


async def test_two_processes_on_one_postgres_never_duplicate_or_skip_a_seq(
    tmp_path: Path, postgres_database: str
) -> None:
    first = start_feed_hub(tmp_path / "a", postgres_database)
    second = start_feed_hub(tmp_path / "b", postgres_database)
    try:
        a, b = await connect(first, "pa"), await connect(second, "pb")

        async def burst(client: SocketRecorder, tag: str) -> list[int]:
            replies = await asyncio.gather(
                *(client.call("publish", {"topic": "feed:shared", "type": "shared.item", "data": {"tag": tag, "n": n}})
                  for n in range(150))
            )
            assert all(reply["ok"] for reply in replies), replies
            return [reply["seq"] for reply in replies]

        from_a, from_b = await asyncio.gather(burst(a, "a"), burst(b, "b"))
        assert sorted(from_a + from_b) == list(range(1, 301))
        reader = await connect(first, "reader")
        await reader.call("subscribe", {"topic": "feed:shared", "since": 0})
        assert seqs(await reader.wait_for("shared.item", count=300)) == list(range(1, 301))
        for client in (a, b, reader):
            await client.close()
    finally:
        first.stop()
        second.stop()
