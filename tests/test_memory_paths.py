"""The per-connection memory savings, engaged on real websockets, and the hub without them.

With the tested libraries an idle websocket costs the hub no asyncio task
(uvicorn's protocol hands each message to the session: ``light_websocket``) and its pings wait on
one shared timer (``shared_ping_timer``), which ``/api/health``'s
``memory_paths`` shows as counts. With the seam's checks failing (the
``memory_paths`` simulation of ``tests/test_compat.py``), python-engineio's
own tasks serve them again (a writer, a reader per message, a ping task), with
a warning. Either way pings keep a live client and drop a silent one as a
``ping_timeout``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import websockets

from hub.testing import RunningHub
from tests.test_compat import SIMULATIONS, compat_hub
from tests.test_ghost_sessions import disconnects

PING_INTERVAL = 1.0  # compat_hub's HUB_PING_INTERVAL
PING_TIMEOUT = 0.5
IDLE = 20


@pytest.fixture(scope="module", params=["on", "off"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    tmp = tmp_path_factory.mktemp(f"memory-{request.param}")
    sitecustomize = SIMULATIONS["memory_paths"][0] if request.param == "off" else None
    running = compat_hub(tmp, sitecustomize, {"HUB_PING_TIMEOUT": str(PING_TIMEOUT)})
    running.mode = request.param  # type: ignore[attr-defined]
    yield running
    running.stop()


async def health(hub: RunningHub) -> dict[str, Any]:
    async with hub.http() as http:
        response = await http.get("/api/health")
    assert response.status_code == 200
    return dict(response.json())


class RawClient:
    """A websocket speaking Engine.IO v4 and Socket.IO by hand, so it can stop answering pings."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.answering = True
        self.pings = 0
        self.closed = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if message == "2":
                    self.pings += 1
                    if self.answering:
                        await self.ws.send("3")
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()


@asynccontextmanager
async def raw_client(hub: RunningHub, user: str) -> AsyncIterator[RawClient]:
    ws = await websockets.connect(f"ws://127.0.0.1:{hub.port}/socket.io/?EIO=4&transport=websocket")
    try:
        opened = await asyncio.wait_for(ws.recv(), 10)
        assert isinstance(opened, str) and opened.startswith("0"), opened
        await ws.send("40" + json.dumps({"token": hub.token(user)}))
        while True:  # until hub.welcome
            message = await asyncio.wait_for(ws.recv(), 10)
            assert isinstance(message, str)
            if message == "2":
                await ws.send("3")
            elif message.startswith('42["hub.welcome"'):
                break
        client = RawClient(ws)
        yield client
        client.reader.cancel()
    finally:
        await ws.close()


async def test_an_idle_websocket_costs_no_task_and_waits_on_the_shared_timer(hub: RunningHub) -> None:
    before = await health(hub)
    async with contextlib_stack(hub, IDLE):
        during = await health(hub)
    engaged, base = during["memory_paths"], before["memory_paths"]
    tasks = engaged["tasks"] - base["tasks"]
    if hub.mode == "on":  # type: ignore[attr-defined]
        assert during["optimisations"]["light_websocket"] == "on"
        assert engaged["one_task_websockets"] - base["one_task_websockets"] == IDLE
        assert engaged["ping_timer_sessions"] >= IDLE
        # No task per idle connection: uvicorn's returned (the connection detached) and
        # nothing replaced it (slack for the hub's own requests in flight on a loaded machine).
        assert tasks < IDLE // 2, engaged
    else:
        assert during["optimisations"]["light_websocket"].startswith("off: ")
        assert during["optimisations"]["shared_ping_timer"].startswith("off: ")
        assert engaged["one_task_websockets"] == 0 and engaged["ping_timer_sessions"] == 0
        # python-engineio's: uvicorn's, the writer and its queue wait, the reader's wait, the ping.
        assert tasks >= 4 * IDLE, engaged
        assert "WARNING hub.compat: optimisation light_websocket is off: " in hub.log()


@asynccontextmanager
async def contextlib_stack(hub: RunningHub, count: int) -> AsyncIterator[list[RawClient]]:
    """``count`` idle clients, connected at once."""
    clients: list[RawClient] = []
    managers = [raw_client(hub, f"idle-{n}") for n in range(count)]
    try:
        for manager in managers:
            clients.append(await manager.__aenter__())
        yield clients
    finally:
        for manager in managers[: len(clients)]:
            await manager.__aexit__(None, None, None)


async def test_pings_keep_a_live_websocket_and_drop_a_silent_one(hub: RunningHub) -> None:
    # python-engineio's own handler (off) also ends a websocket silent for pingInterval +
    # pingTimeout by its read timeout, at the same moment as the deadline: counted either way.
    reasons = ["ping_timeout"] if hub.mode == "on" else ["ping_timeout", "lost"]  # type: ignore[attr-defined]

    async def counted() -> float:
        async with hub.http() as http:
            return sum([await disconnects(http, reason) for reason in reasons])

    timeouts = await counted()
    async with raw_client(hub, "pinged") as client:
        started = time.monotonic()
        while client.pings < 3:  # each answered: the session stays
            assert not client.closed.is_set(), "closed while answering its pings"
            assert time.monotonic() - started < 10 * PING_INTERVAL, client.pings
            await asyncio.sleep(0.05)
        client.answering = False
        silent_from = time.monotonic()
        # The server ends the session and closes the websocket itself once the deadline passed.
        await asyncio.wait_for(client.closed.wait(), PING_INTERVAL + PING_TIMEOUT + 5)
        assert time.monotonic() - silent_from >= PING_TIMEOUT
    deadline = time.monotonic() + 5
    while await counted() < timeouts + 1:
        assert time.monotonic() < deadline, "the silent client was not counted as a ping timeout"
        await asyncio.sleep(0.05)
