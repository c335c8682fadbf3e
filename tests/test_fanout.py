"""Fan-out: one event to many subscribers, over websocket, long-polling and an upgrade, in order.

Events on a websocket go out through the hub's fast path (one frame, written
to each transport); long-polling takes python-engineio's queue. Whatever the
path, each subscriber gets every event once and in publish order, and
requests still get their replies. Per-message deflate is off unless
``HUB_WS_COMPRESSION`` turns it on, and frames stay readable when it is on.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from hub.testing import DEFAULT_TIMEOUT, RunningHub, SocketRecorder, start_hub
from tests.test_slow_consumer import bench_site

EVENTS = 120
BURST = 10


def bench_hub(tmp: Path, **env: str) -> RunningHub:
    site = bench_site(tmp / "site")
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")]))
    return start_hub(tmp / "hub", env={"PYTHONPATH": path, "HUB_RATE_BURST": "1000", **env})


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    # A short ping interval: python-socketio's long-polling client, disconnecting,
    # waits for its pending GET to end, which the next ping does.
    running = bench_hub(tmp_path_factory.mktemp("fanout"), HUB_PING_INTERVAL="1")
    yield running
    running.stop()


async def subscriber(hub: RunningHub, user: str, topic: str, transports: list[str]) -> SocketRecorder:
    client = SocketRecorder()
    await client.sio.connect(
        hub.url, auth={"token": hub.token(user)}, transports=transports, wait_timeout=DEFAULT_TIMEOUT
    )
    await client.wait_for("hub.welcome")
    reply = await client.call("subscribe", {"topic": topic})
    assert reply["ok"] is True, reply
    return client


async def test_every_subscriber_gets_every_event_once_in_order_on_any_transport(hub: RunningHub) -> None:
    topic = "bench:order"
    kinds = [["websocket"]] * 12 + [["polling"]] * 3 + [["polling", "websocket"]] * 3
    clients = await asyncio.gather(
        *(subscriber(hub, f"u{n}", topic, transports) for n, transports in enumerate(kinds))
    )
    publisher = clients[0]
    try:
        # Bursts published without waiting: events and replies interleave on the wire.
        # (Bursts of BURST: python-socketio's own long-polling client drops its
        # connection under a burst of a hundred or so events, fast path or not.)
        for first in range(0, EVENTS, BURST):
            replies = await asyncio.gather(
                *(publisher.call("publish", {"topic": topic, "type": "bench.tick", "data": {"n": n}})
                  for n in range(first, first + BURST))
            )
            assert all(reply["ok"] for reply in replies)
        # Requests sent meanwhile still get their replies.
        assert (await clients[-1].call("subscribe", {"topic": "bench:other"}))["ok"] is True
        for client, transports in zip(clients, kinds):
            received = await client.wait_for("bench.tick", count=EVENTS, timeout=30)
            numbers = [event["data"]["n"] for event in received]
            # Delivery follows the order in which the hub handled the publishes,
            # the same for everyone: the publisher's own replies carry no seq, so
            # compare each client with the first.
            assert sorted(numbers) == list(range(EVENTS)), transports
            assert numbers == [e["data"]["n"] for e in clients[0].of_type("bench.tick")], transports
            assert len(client.of_type("bench.tick")) == EVENTS, "an event arrived twice"
            assert client.sio.transport() == transports[-1]
    finally:
        await asyncio.gather(*(client.close() for client in clients))


async def raw_handshake(hub: RunningHub) -> tuple[websockets.ClientConnection, str | None]:
    """A websocket offering per-message deflate; the extension the hub accepted, if any."""
    ws = await websockets.connect(
        f"ws://127.0.0.1:{hub.port}/socket.io/?EIO=4&transport=websocket", compression="deflate"
    )
    assert ws.response is not None
    return ws, ws.response.headers.get("Sec-WebSocket-Extensions")


async def read_event(ws: websockets.ClientConnection, token: str, topic: str, hub: RunningHub) -> dict[str, object]:
    """Do the handshakes by hand, subscribe, have an event published; the event as received."""
    assert str(await ws.recv()).startswith("0")
    await ws.send("40" + json.dumps({"token": token}))
    while True:
        message = str(await asyncio.wait_for(ws.recv(), DEFAULT_TIMEOUT))
        if message.startswith("40"):
            await ws.send("420" + json.dumps(["subscribe", {"topic": topic}]))
        elif message.startswith("430"):
            await hub.publish(topic, "bench.tick", {"n": 1})
        elif message.startswith('42["bench.tick"'):
            return json.loads(message[2:])[1]


async def test_compression_is_off_by_default(hub: RunningHub) -> None:
    ws, extension = await raw_handshake(hub)
    try:
        assert extension is None
        event = await read_event(ws, hub.token("plain"), "bench:plain", hub)
        assert event["data"] == {"n": 1}
    finally:
        await ws.close()


async def test_compression_when_configured_still_delivers(tmp_path: Path) -> None:
    compressed = bench_hub(tmp_path, HUB_WS_COMPRESSION="true")
    try:
        ws, extension = await raw_handshake(compressed)
        try:
            assert extension is not None and "permessage-deflate" in extension
            event = await read_event(ws, compressed.token("zip"), "bench:zip", compressed)
            assert event["data"] == {"n": 1}
        finally:
            await ws.close()
    finally:
        compressed.stop()
