"""No ghost sessions: a session whose transport ended, or that missed its pong, is gone at once.

A raw websocket client speaks Engine.IO v4 and Socket.IO by hand, joins a
presence room, then sends a frame that is not Engine.IO (``x``, or an empty
frame). python-engineio's websocket handler dies on it; the hub must close the
session with it: the connection leaves the admin stats and the presence room
within a second (a protocol error is not a lost connection, so no grace
period), counted as ``hub_disconnects_total{reason="protocol_error"}``.

On long-polling, a session whose PING goes unanswered is refused (400) once
pingInterval + pingTimeout have passed, as the Engine.IO protocol's test suite
asks, and its connection leaves the hub, counted as ``ping_timeout``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from hub.testing import RunningHub, start_hub

from .plugins.presence.support import gate_site, gated_env

PING_INTERVAL = 1.0
PING_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    tmp = tmp_path_factory.mktemp("ghosts")
    env = gated_env(gate_site(tmp / "site"), {"1": ["ghost", "viewer"]}, HUB_PLUGIN_PRESENCE_GRACE_SECONDS="5")
    running = start_hub(tmp / "hub", env={**env, "HUB_PING_INTERVAL": str(PING_INTERVAL),
                                          "HUB_PING_TIMEOUT": str(PING_TIMEOUT)})
    yield running
    running.stop()


async def raw_member(hub: RunningHub, user: str, room: str) -> websockets.ClientConnection:
    """A websocket speaking Engine.IO v4 by hand: connected as ``user``, joined to ``presence:<room>``."""
    ws = await websockets.connect(f"ws://127.0.0.1:{hub.port}/socket.io/?EIO=4&transport=websocket")
    opened = await ws.recv()
    assert isinstance(opened, str) and opened.startswith("0"), opened
    await ws.send("40" + json.dumps({"token": hub.token(user)}))
    while True:
        message = await asyncio.wait_for(ws.recv(), 10)
        assert isinstance(message, str)
        if message == "2":
            await ws.send("3")
        elif message.startswith("40"):
            await ws.send("420" + json.dumps(["subscribe", {"topic": f"presence:{room}"}]))
        elif message.startswith("430"):
            reply = json.loads(message[3:])[0]
            assert reply["ok"] is True, reply
            return ws


async def counted(hub: RunningHub, http: httpx.AsyncClient, user: str) -> tuple[int, bool]:
    """The hub's connections (admin stats) and whether ``user`` is online (presence)."""
    stats = (await http.get("/api/admin/stats", headers=hub.headers("admin", ("admin",)))).json()
    users = (await http.get("/api/presence/users", params={"ids": user}, headers=hub.headers("viewer", ()))).json()
    return stats["counters"]["connections"], users["users"][0]["online"]


async def disconnects(http: httpx.AsyncClient, reason: str) -> float:
    text = (await http.get("/metrics")).text
    prefix = f'hub_disconnects_total{{reason="{reason}"}}'
    return next((float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix)), 0.0)


async def until(condition: object, timeout: float) -> float:
    """Seconds until the awaitable factory ``condition`` returns true; fails past ``timeout``."""
    started = time.monotonic()
    while not await condition():  # type: ignore[operator]
        assert time.monotonic() - started < timeout, "not within the time allowed"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


@pytest.mark.parametrize("frame", ["x", ""], ids=["garbage", "empty"])
async def test_a_malformed_frame_ends_the_session_at_once(hub: RunningHub, frame: str) -> None:
    async with hub.http() as http:
        before_count, _ = await counted(hub, http, "ghost")
        before_errors = await disconnects(http, "protocol_error")
        ws = await raw_member(hub, "ghost", "chat-1")
        assert await counted(hub, http, "ghost") == (before_count + 1, True)

        await ws.send(frame)

        async def gone() -> bool:
            return await counted(hub, http, "ghost") == (before_count, False)

        await until(gone, 1.0)
        assert await disconnects(http, "protocol_error") == before_errors + 1
        # The server closed the websocket too: the client is not left talking to nobody
        # (what was on its way before the close may still arrive first).
        with pytest.raises(websockets.ConnectionClosed):
            async with asyncio.timeout(1.0):
                while True:
                    await ws.recv()


async def test_a_polling_session_that_misses_its_pong_is_closed_at_its_deadline(hub: RunningHub) -> None:
    base = f"{hub.url}/socket.io/"
    async with hub.http() as http:
        before_timeouts = await disconnects(http, "ping_timeout")
        opened = await http.get(base, params={"EIO": "4", "transport": "polling"})
        sid = json.loads(opened.text[1:])["sid"]
        posted = await http.post(base, params={"EIO": "4", "transport": "polling", "sid": sid},
                                 content="40" + json.dumps({"token": hub.token("ghost")}))
        assert posted.status_code == 200
        connected = await http.get(base, params={"EIO": "4", "transport": "polling", "sid": sid})
        assert connected.text.startswith("40"), connected.text
        handshake_done = time.monotonic()
        # Nobody answers the PING the hub sends after PING_INTERVAL.
        await asyncio.sleep(PING_INTERVAL + PING_TIMEOUT - (time.monotonic() - handshake_done) + 0.05)
        late = await http.get(base, params={"EIO": "4", "transport": "polling", "sid": sid})
        assert late.status_code == 400, late.text

        async def counted_out() -> bool:
            return await disconnects(http, "ping_timeout") == before_timeouts + 1

        await until(counted_out, 1.0)


async def test_a_polling_session_that_answers_its_pings_stays(hub: RunningHub) -> None:
    base = f"{hub.url}/socket.io/"
    async with hub.http() as http:
        opened = await http.get(base, params={"EIO": "4", "transport": "polling"})
        sid = json.loads(opened.text[1:])["sid"]
        query = {"EIO": "4", "transport": "polling", "sid": sid}
        started = time.monotonic()
        pings = 0
        while time.monotonic() - started < 3 * (PING_INTERVAL + PING_TIMEOUT):
            polled = await http.get(base, params=query, timeout=10)
            assert polled.status_code == 200, polled.text
            if polled.text == "2":
                pings += 1
                assert (await http.post(base, params=query, content="3")).status_code == 200
        assert pings >= 2
        assert (await http.post(base, params=query, content="1")).status_code == 200
