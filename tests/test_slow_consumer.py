"""The slow-consumer policy: a client that stops reading is disconnected, and the others do not notice.

A raw websocket client does the Engine.IO and Socket.IO handshakes by hand,
subscribes, then stops reading (a tiny receive buffer, so the kernel holds
little for it) while large events are published. Past
``HUB_SLOW_CONSUMER_BYTES`` unsent bytes the hub closes it; a normal client
on the same topic receives every event, in order.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from hub.testing import RunningHub, SocketRecorder, start_hub

BENCH_PLUGIN = Path(__file__).resolve().parents[1] / "bench" / "fanout" / "hub_bench.py"
LIMIT = 256 * 1024
EVENTS = 200
EVENT_BYTES = 60_000


def bench_site(target: Path) -> Path:
    """A directory that, on PYTHONPATH, installs the benchmark's ``bench`` plugin."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(BENCH_PLUGIN, target / "hub_bench.py")
    info = target / "hub_bench-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hub_bench\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[hub.plugins]\nbench = hub_bench\n")
    return target


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    tmp = tmp_path_factory.mktemp("slow")
    site = bench_site(tmp / "site")
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")]))
    running = start_hub(tmp / "hub", env={"PYTHONPATH": path, "HUB_SLOW_CONSUMER_BYTES": str(LIMIT)})
    yield running
    running.stop()


async def raw_subscriber(hub: RunningHub, topic: str) -> websockets.ClientConnection:
    """A websocket that speaks Engine.IO by hand, subscribed to ``topic``, with a tiny receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", hub.port))
    sock.setblocking(False)
    ws = await websockets.connect(
        f"ws://127.0.0.1:{hub.port}/socket.io/?EIO=4&transport=websocket", sock=sock,
        compression=None, max_queue=1, max_size=None,
    )
    opened = await ws.recv()
    assert isinstance(opened, str) and opened.startswith("0")
    await ws.send("40" + json.dumps({"token": hub.token("slow")}))
    seen: list[str] = []
    while not any(message.startswith("430") for message in seen):
        message = await asyncio.wait_for(ws.recv(), 10)
        assert isinstance(message, str)
        if message == "2":  # an Engine.IO ping
            await ws.send("3")
        elif message.startswith("40"):
            await ws.send("420" + json.dumps(["subscribe", {"topic": topic}]))
        seen.append(message)
    reply = json.loads(next(m for m in seen if m.startswith("430"))[3:])[0]
    assert reply["ok"] is True, reply
    return ws


async def slow_consumers(hub: RunningHub) -> float:
    async with httpx.AsyncClient(base_url=hub.url) as http:
        text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("hub_slow_consumers_total"):
            return float(line.split()[-1])
    raise AssertionError("hub_slow_consumers_total is not exported")


async def test_a_client_that_stops_reading_is_dropped_and_the_others_get_everything(hub: RunningHub) -> None:
    topic = "bench:slow"
    before = await slow_consumers(hub)
    stuck = await raw_subscriber(hub, topic)
    reader = await SocketRecorder().connect(hub, hub.token("reader"))
    try:
        await reader.wait_for("hub.welcome")
        assert (await reader.call("subscribe", {"topic": topic}))["ok"] is True
        filler = "x" * EVENT_BYTES
        async with hub.http() as http:
            for n in range(EVENTS):
                response = await http.post(
                    "/api/publish", headers=hub.headers(),
                    json={"topic": topic, "type": "bench.big", "data": {"n": n, "fill": filler}},
                )
                assert response.status_code == 201, response.text
        received = await reader.wait_for("bench.big", count=EVENTS, timeout=60)
        assert [event["data"]["n"] for event in received] == list(range(EVENTS))
        assert reader.sio.connected

        # The stuck client was closed: reading now, it reaches the end of the stream
        # having received only part of what was published.
        got = 0
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                message = await asyncio.wait_for(stuck.recv(), 30)
                if isinstance(message, str) and message.startswith('42["bench.big"'):
                    got += 1
        assert got < EVENTS
        assert await slow_consumers(hub) == before + 1
    finally:
        await reader.close()
        await stuck.close()
