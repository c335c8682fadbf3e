"""A mass disconnect does not stall the hub: health stays quick and a bystander's events stay on time.

2,000 Node socket.io-client connections, spread over 20 presence rooms, all
disconnect at once. Meanwhile a bystander subscribed to another topic receives
an event published over HTTP every 50 ms, and ``/api/health`` is asked every
100 ms. Each presence leave is an event to the room and a last-seen write, and
each connection end runs the hub's ``disconnected``: none of that may hold up
the loop for long (before presence's writes were batched, health took up to
13 s and events were 1.8 s late).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.testing import RunningHub, SocketRecorder, start_hub
from tests.test_node_client import NODE_DIR, node  # noqa: F401  (the fixture that finds Node or skips)
from tests.test_slow_consumer import bench_site

CONNECTIONS = 2000
ROOMS = 20
HEALTH_LIMIT = 1.0
LATE_LIMIT = 0.5
pytestmark = pytest.mark.node


async def health_times(hub: RunningHub, done: asyncio.Event, times: list[float]) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as http:
        while not done.is_set():
            started = time.monotonic()
            response = await http.get("/api/health")
            times.append(time.monotonic() - started)
            assert response.status_code == 200, response.text
            await asyncio.sleep(0.1)


async def publish_ticks(hub: RunningHub, done: asyncio.Event, sent: list[int]) -> None:
    async with httpx.AsyncClient(base_url=hub.url, headers=hub.headers(), timeout=30) as http:
        n = 0
        while not done.is_set():
            response = await http.post(
                "/api/publish", json={"topic": "bench:bystander", "type": "storm.tick", "data": {"n": n, "t": time.time()}}
            )
            assert response.status_code == 201, response.text
            sent.append(n)
            n += 1
            await asyncio.sleep(0.05)


async def connections(hub: RunningHub) -> int:
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as http:
        return int((await http.get("/api/health")).json()["connections"])


async def test_two_thousand_presence_members_leaving_at_once_stall_nobody(node: str, tmp_path: Path) -> None:
    site = bench_site(tmp_path / "site")
    hub = start_hub(tmp_path / "hub", env={
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
        "HUB_RATE_LIMIT": "100000", "HUB_RATE_BURST": "100000",
        # A clean disconnect leaves at once; no grace period hides the work in a timer.
        "HUB_PLUGIN_PRESENCE_GRACE_SECONDS": "0",
    })
    bystander = SocketRecorder()
    late: list[float] = []
    received: list[int] = []

    async def on_tick(envelope: dict[str, Any]) -> None:
        late.append(time.time() - envelope["data"]["t"])
        received.append(envelope["data"]["n"])

    try:
        tokens = tmp_path / "tokens.json"
        tokens.write_text(json.dumps([hub.token(f"m{n}") for n in range(CONNECTIONS)]))
        ready, go = tmp_path / "ready", tmp_path / "go"
        env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
        env.update(
            HUB_URL=hub.url, HUB_TOKENS_FILE=str(tokens), NODE_TEST_TIMEOUT_MS="55000",
            STORM_TOPICS=",".join(f"presence:room-{n}" for n in range(ROOMS)),
            STORM_READY_FILE=str(ready), STORM_GO_FILE=str(go),
        )
        storm = await asyncio.create_subprocess_exec(
            node, "connection_storm.mjs", cwd=NODE_DIR, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        await bystander.connect(hub, hub.token("bystander"))
        await bystander.wait_for("hub.welcome")
        bystander.sio.on("storm.tick", on_tick)
        assert (await bystander.call("subscribe", {"topic": "bench:bystander"}))["ok"] is True
        deadline = time.monotonic() + 40
        while not ready.exists():
            assert storm.returncode is None and time.monotonic() < deadline, "the storm's clients did not all join"
            await asyncio.sleep(0.05)
        assert await connections(hub) == CONNECTIONS + 1

        done = asyncio.Event()
        health: list[float] = []
        sent: list[int] = []
        watchers = [asyncio.create_task(health_times(hub, done, health)),
                    asyncio.create_task(publish_ticks(hub, done, sent))]
        await asyncio.sleep(1.0)  # the calm before
        late.clear()
        go.write_text("go")
        out, err = await asyncio.wait_for(storm.communicate(), 30)
        assert storm.returncode == 0, err.decode()
        assert json.loads(out.decode().strip().splitlines()[-1])["welcomed"] == CONNECTIONS
        settle = time.monotonic() + 20
        while await connections(hub) > 1:
            assert time.monotonic() < settle, "the disconnects did not settle within 20 s"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # and the work the disconnects left behind (presence leaves, last seen)
        done.set()
        await asyncio.gather(*watchers)
        await asyncio.sleep(0.5)
    finally:
        await bystander.close()
        hub.stop()
    assert "Traceback" not in hub.log(), hub.log()
    assert max(health) < HEALTH_LIMIT, f"health took up to {max(health):.2f} s"
    assert received == sent, "the bystander missed events"
    assert max(late) < LATE_LIMIT, f"the bystander's events were up to {max(late):.2f} s late"
