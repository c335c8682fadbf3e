"""The heartbeat's sweep looks only at the PINGs past their deadline, not at every session.

Walking every Engine.IO session each second cost the connect path in
proportion to the connections held (20,000 sessions: about 3 % of the CPU).
With the shared ping timer (``hub._compat.pings``) the sweep takes the
unanswered PINGs whose deadline passed (:meth:`PingTimer.overdue`), oldest
first, and walks every session only now and then. On real websockets the
silent client is still dropped at its deadline (``tests/test_memory_paths.py``);
here the order and the walk are checked on stand-in sessions.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from hub._compat import heartbeat, pings


class Sock:
    """What the timer and the sweep read of python-engineio's socket."""

    def __init__(self, server: Any, sid: str) -> None:
        self.server = server
        self.sid = sid
        self.last_ping: float | None = None
        self.closing = self.closed = False
        self.queue = asyncio.Queue[Any]()
        self.closed_for: str | None = None

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        self.closing = self.closed = True
        self.closed_for = reason


class Walked(dict[str, Any]):
    """The server's session table, counting the sweeps that walked it."""

    walks = 0

    def items(self) -> Any:
        self.walks += 1
        return super().items()


class Server:
    def __init__(self, ping_timeout: float) -> None:
        self.ping_timeout = ping_timeout
        self.ping_interval = 0.05
        self.sockets = Walked()
        self.reason = type("Reason", (), {"PING_TIMEOUT": "ping timeout"})

    def create_event(self) -> asyncio.Event:
        return asyncio.Event()


async def test_overdue_gives_the_unanswered_pings_in_the_order_they_went() -> None:
    server = Server(ping_timeout=10)
    timer = pings.timer(server)
    socks = [Sock(server, f"s{n}") for n in range(3)]
    for sock in socks:
        pings.ping(sock)
        timer.unanswered[sock] = sock.last_ping  # type: ignore[assignment]
        await asyncio.sleep(0.01)
    timer.answered(socks[1])
    assert timer.overdue(time.time() - 60) == []
    assert timer.overdue(time.time()) == [socks[0], socks[2]]
    assert timer.unanswered == {}


async def test_the_timer_tracks_each_ping_until_its_pong() -> None:
    server = Server(ping_timeout=10)
    sock = Sock(server, "s")
    sock.__class__ = type("PingedSock", (Sock,), {"schedule_ping": pings.PingedSocket.schedule_ping})
    sock.last_ping = time.time()
    sock.schedule_ping()  # the connect: the first ping is due after the interval
    timer = pings.timer(server)
    await asyncio.sleep(0.15)
    assert sock in timer.unanswered and sock.queue.qsize() == 1
    sock.schedule_ping()  # its PONG
    assert sock not in timer.unanswered
    timer.stop()


async def test_the_sweep_closes_overdue_sessions_without_walking_them_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heartbeat, "MAX_SWEEP_PAUSE", 0.02)
    server = Server(ping_timeout=0.1)
    timer = pings.timer(server)
    silent, answered = Sock(server, "silent"), Sock(server, "answered")
    idle = [Sock(server, f"idle{n}") for n in range(100)]
    for sock in [silent, answered, *idle]:
        server.sockets[sock.sid] = sock
    for sock in (silent, answered):
        pings.ping(sock)
        timer.unanswered[sock] = sock.last_ping  # type: ignore[assignment]
    timer.answered(answered)
    answered.last_ping = None
    sweeper = asyncio.create_task(heartbeat.sweep(server))
    try:
        deadline = time.monotonic() + 5
        while not silent.closed:
            assert time.monotonic() < deadline, "the silent session was not closed"
            await asyncio.sleep(0.01)
    finally:
        server.service_task_event.set()  # type: ignore[attr-defined]
        await sweeper
    assert silent.closed_for == "ping timeout"
    assert not answered.closed and not any(sock.closed for sock in idle)
    assert server.sockets.walks == 0, "the sweep walked every session"


async def test_without_the_shared_timer_every_session_is_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heartbeat, "MAX_SWEEP_PAUSE", 0.02)
    server = Server(ping_timeout=0.1)
    silent, gone = Sock(server, "silent"), Sock(server, "gone")
    silent.last_ping = time.time()
    gone.closed = True
    server.sockets.update(silent=silent, gone=gone)
    sweeper = asyncio.create_task(heartbeat.sweep(server))
    try:
        deadline = time.monotonic() + 5
        while not silent.closed or "gone" in server.sockets:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
    finally:
        server.service_task_event.set()  # type: ignore[attr-defined]
        await sweeper
    assert server.sockets.walks > 0


def test_a_closed_session_leaves_the_table_once_its_websocket_ended() -> None:
    server = Server(ping_timeout=1)
    sock = Sock(server, "s")
    server.sockets["s"] = sock
    heartbeat.drop_closed(server, sock)
    assert "s" in server.sockets  # still open
    sock.closed = True
    heartbeat.drop_closed(server, sock)
    assert "s" not in server.sockets
