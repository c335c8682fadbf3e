"""Binary payloads: bytes in an envelope's ``data`` travel as Socket.IO binary attachments.

Against real hubs with the test plugin ``listing`` (tests/support/hub_listing.py):
``listing.blob`` takes bytes in a request, publishes them to ``blob:<key>``
(ephemeral) and replies with bytes. Durable kinds refuse bytes (the log is JSON).
Over Redis, bytes and views cross between two hub processes.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hub.client import HubClient
from hub.testing import RunningHub, SocketRecorder, welcomed
from tests.test_node_client import node, run_script  # noqa: F401  (the `node` fixture)
from tests.support.cluster import Pair, metric
from tests.test_views import hub, listing_env, until  # noqa: F401  (the `hub` fixture)

SIZES = [5, 300, 60_000]  # a frame's three length encodings (7-bit, 16-bit, and 64-bit with repeat)




connect = welcomed  # a client that has received hub.welcome


def payload(size: int) -> bytes:
    return bytes(n % 251 for n in range(size))


async def test_bytes_in_a_request_its_reply_and_the_published_event(hub: RunningHub) -> None:
    sender = await connect(hub, "sender")
    readers = [await connect(hub, "ws-reader"), await connect(hub, "poll-reader", transport="polling"),
               await connect(hub, "ws-again")]
    for reader in readers:
        assert (await reader.call("subscribe", {"topic": "blob:doc"}))["ok"]
    async with HubClient(hub.url, hub.token("py-reader")) as client:
        chunks: list[Any] = []
        client.on("blob.chunk", lambda envelope: chunks.append(envelope["data"]["payload"]))
        await client.subscribe("blob:doc")
        fast_before = await metric(hub, "hub_fastpath_deliveries_total")
        expected = []
        for size, repeat in [(SIZES[0], 1), (SIZES[1], 1), (SIZES[2], 1), (SIZES[2], 2)]:
            sent = payload(size)
            reply = await sender.call("listing.blob", {"key": "doc", "payload": sent, "repeat": repeat})
            assert reply == {"ok": True, "reversed": sent[::-1], "size": size}
            expected.append(sent * repeat)
        for reader in readers:
            got = await reader.wait_for("blob.chunk", count=len(expected))
            assert [event["data"]["payload"] for event in got] == expected
            assert all(type(event["data"]["payload"]) is bytes for event in got)
            assert [event["data"]["size"] for event in got] == [len(chunk) for chunk in expected]
            assert all(event["seq"] is None and event["topic"] == "blob:doc" for event in got)
        await until(lambda: len(chunks) == len(expected))
        assert chunks == expected
    # Binary events take the websocket fast path too (their frames built once per event).
    # (two websocket recorders at least; the polling one takes python-engineio's queue, with base64 attachments)
    assert await metric(hub, "hub_fastpath_deliveries_total") - fast_before >= 2 * len(expected)
    for who in (sender, *readers):
        await who.close()


async def test_client_publish_with_bytes_and_durable_kinds_refusing_them(hub: RunningHub) -> None:
    writer = await connect(hub, "writer", transport="polling")
    reader = await connect(hub, "reader")
    assert (await reader.call("subscribe", {"topic": "blob:pub"}))["ok"]
    reply = await writer.call("publish", {"topic": "blob:pub", "type": "blob.note", "data": {"raw": b"\x00\xffok",
                                                                                            "nested": [b"x"]}})
    assert reply["ok"] and reply["seq"] is None
    note = (await reader.wait_for("blob.note"))[0]
    assert note["data"] == {"raw": b"\x00\xffok", "nested": [b"x"]}
    # A durable kind stores JSON: bytes are refused with a clear message, and nothing is stored.
    assert (await reader.call("subscribe", {"topic": "ledger:pub"}))["ok"]
    refused = await writer.call("publish", {"topic": "ledger:pub", "type": "ledger.entry", "data": {"raw": b"1"}})
    assert refused["ok"] is False and refused["error"]["code"] == "invalid_message"
    assert "durable" in refused["error"]["message"]
    accepted = await writer.call("publish", {"topic": "ledger:pub", "type": "ledger.entry", "data": {"raw": "MQ=="}})
    assert accepted["ok"] and accepted["seq"] == 1
    # Attachments count towards the request size limit.
    too_big = await writer.call("listing.blob", {"key": "pub", "payload": b"\x01" * 70_000})
    assert too_big["ok"] is False and too_big["error"]["code"] == "too_large"
    for who in (writer, reader):
        await who.close()


def test_socket_io_client_under_node_sends_and_receives_bytes(node: str, hub: RunningHub) -> None:  # noqa: F811
    result = run_script(node, hub, "binary.mjs", HUB_TOKEN=hub.token("nodey"), HUB_TOPIC_KEY="node")
    sent = bytes([0, 1, 2, 3, 254, 255])
    assert result["reply"] == {"ok": True, "size": 6, "reversed": {"kind": "bytes", "hex": sent[::-1].hex(),
                                                                    "length": 6}}
    for transport in ("websocket", "polling"):
        assert result["chunks"][transport] == {"payload": {"kind": "bytes", "hex": (sent * 2).hex(), "length": 12},
                                               "size": 12}
    assert result["publish"] == {"ok": True, "received": {"kind": "bytes", "hex": "hé".encode().hex(),
                                                          "length": 3}}


@pytest.fixture
async def pair(tmp_path: Path, redis_url: str, postgres_database: str) -> AsyncIterator[Pair]:
    hubs = Pair(tmp_path, redis_url, postgres_database)
    # The listing plugin beside the feed plugin Pair installs.
    env = listing_env(tmp_path / "listing")
    hubs.env.update(env, PYTHONPATH=os.pathsep.join([env["PYTHONPATH"], hubs.env["PYTHONPATH"]]))
    hubs.start("a")
    hubs.start("b")
    yield hubs
    await hubs.close()


async def test_bytes_and_views_cross_between_two_hubs_over_redis(pair: Pair) -> None:
    a, b = pair.hubs
    writer = await pair.connect(a, "writer")
    bytes_reader = await pair.connect(b, "bytes-reader")
    filtered = await pair.connect(b, "filtered")
    unfiltered = await pair.connect(b, "unfiltered")
    assert (await bytes_reader.call("subscribe", {"topic": "blob:x"}))["ok"]
    assert (await filtered.call("subscribe", {"topic": "items:x", "status": "open"}))["ok"]
    assert (await unfiltered.call("subscribe", {"topic": "items:x"}))["ok"]

    sent = payload(SIZES[2])
    assert (await writer.call("listing.blob", {"key": "x", "payload": sent, "repeat": 2}))["ok"]
    got = (await bytes_reader.wait_for("blob.chunk"))[0]
    assert got["data"]["payload"] == sent * 2

    seqs = []
    for item, status in [("a", "open"), ("b", "done"), ("a", "closed")]:
        reply = await writer.call("listing.put", {"list": "x", "id": item, "status": status})
        assert reply["ok"], reply
        seqs.append(reply["seq"])
    await unfiltered.wait_for("item.changed", count=3)
    removed = (await filtered.wait_for("item.removed"))[0]
    assert removed["seq"] == seqs[2] and removed["data"] == {"id": "a"}
    assert [event["seq"] for event in filtered.of_type("item.changed")] == [seqs[0]]
