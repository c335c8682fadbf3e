"""Engine.IO pings from one shared timer (optimisation ``shared_ping_timer``).

python-engineio starts a task for every ping it sends: ``schedule_ping``
(on connect, and on every PONG) starts ``_send_ping``, which sleeps
``ping_interval`` and queues a PING. An idle connection therefore always has
a task, its coroutine, a sleep future and a timer handle (about 1.3 KB), and a
connection that closed keeps its task sleeping until the interval is over.

Every ping of one server waits the same ``ping_interval``, so the pings due
are in the order they were scheduled: :class:`PingTimer` keeps them in one
deque of ``(due, socket)`` and one loop timer for the first of them. What
goes over the wire does not change: a PING queued ``ping_interval`` after the
connect or the last PONG, and the deadline (``last_ping``) python-engineio
and :mod:`.heartbeat` check.

The timer also knows which PINGs are still unanswered, in the order they
went (:meth:`PingTimer.overdue`): the heartbeat's sweep looks at those whose
deadline passed instead of walking every session each time (a walk over
20,000 sessions every second cost the connect path about 3 % of the CPU).

The sockets get the hub's ``schedule_ping`` by their class: python-engineio
builds every session as ``AsyncSocket`` in ``_handle_connect``, and the hub's
Engine.IO server turns it into :class:`PingedSocket` (a subclass adding
nothing to its instances) as it triggers the session's ``connect`` event,
which comes just before the first ``schedule_ping``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from engineio import async_server, async_socket, packet

from .checks import method, uses

NAME = "shared_ping_timer"

logger = logging.getLogger("hub.compat")


def check() -> None:
    """What :class:`PingedSocket`, :func:`adopt` and :class:`PingTimer` rely on."""
    where = "engineio.async_socket.AsyncSocket"
    uses(async_server.AsyncServer._handle_connect, ["AsyncSocket", "sockets", "_trigger_event", "schedule_ping"],
         "engineio.async_server.AsyncServer._handle_connect")
    method(async_server.AsyncServer, "_trigger_event", "engineio.async_server.AsyncServer", ("event",),
           coroutine=True)
    uses(async_socket.AsyncSocket.schedule_ping, ["last_ping", "_send_ping"], f"{where}.schedule_ping")
    uses(async_socket.AsyncSocket._send_ping, ["ping_interval", "closing", "closed", "last_ping", "PING"],
         f"{where}._send_ping")
    uses(async_socket.AsyncSocket.receive, ["PONG", "schedule_ping"], f"{where}.receive")
    uses(async_socket.AsyncSocket.send, ["queue"], f"{where}.send")


class PingTimer:
    """The pings due on one Engine.IO server's sessions, in the order they fall due, and one timer."""

    __slots__ = ("server", "due", "handle", "unanswered")

    def __init__(self, server: Any) -> None:
        self.server = server
        self.due: deque[tuple[float, Any]] = deque()
        self.handle: asyncio.TimerHandle | None = None
        #: Sessions whose PING got no PONG yet -> when it went (``time.time()``), oldest first:
        #: a dict keeps insertion order, and a PONG takes its session out in O(1).
        self.unanswered: dict[Any, float] = {}

    def __len__(self) -> int:
        """Sessions waiting for their next ping (the figure ``/api/health`` shows)."""
        return len(self.due)

    def add(self, sock: Any) -> None:
        """Ping ``sock`` once ``ping_interval`` has passed."""
        loop = asyncio.get_running_loop()
        when = loop.time() + float(self.server.ping_interval)
        if self.due and when < self.due[-1][0]:
            when = self.due[-1][0]  # the interval went down at run time: keep the order
        self.due.append((when, sock))
        if self.handle is None:
            self.handle = loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self.handle = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = self.due
        unanswered = self.unanswered
        while due and due[0][0] <= now:
            _, sock = due.popleft()
            try:
                if ping(sock):
                    unanswered.pop(sock, None)  # (re)inserted last: the order is the order sent
                    unanswered[sock] = sock.last_ping
            except Exception:  # one broken session must not stop the others' pings
                logger.exception("pinging %s failed", getattr(sock, "sid", "?"))
        if due:
            self.handle = loop.call_at(due[0][0], self._fire)

    def answered(self, sock: Any) -> None:
        """``sock``'s PING got its PONG."""
        self.unanswered.pop(sock, None)

    def overdue(self, sent_before: float) -> list[Any]:
        """The sessions whose PING went at or before ``sent_before`` and is still unanswered (taken out)."""
        unanswered = self.unanswered
        found: list[Any] = []
        for sock, sent_at in unanswered.items():
            if sent_at > sent_before:
                break  # the rest went later
            found.append(sock)
        for sock in found:
            del unanswered[sock]
        return found

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        self.due.clear()
        self.unanswered.clear()


def ping(sock: Any) -> bool:
    """What python-engineio's ``_send_ping`` does once its sleep is over; whether a PING went."""
    if sock.closing or sock.closed:
        return False
    sock.last_ping = time.time()
    # send() would first check the deadline just set: nothing to check.
    sock.queue.put_nowait(packet.Packet(packet.PING))
    return True


class PingedSocket(async_socket.AsyncSocket):  # type: ignore[misc]
    """python-engineio's socket, its pings scheduled on the server's :class:`PingTimer`."""

    def schedule_ping(self) -> None:
        # As python-engineio: a new ping only once the previous one was answered.
        sock: Any = self
        if sock.last_ping:
            sock.last_ping = None
            found = timer(sock.server)
            found.answered(sock)
            found.add(sock)


def timer(server: Any) -> PingTimer:
    """The server's ping timer, made on first use."""
    found: PingTimer | None = getattr(server, "hub_pings", None)
    if found is None:
        found = server.hub_pings = PingTimer(server)
    return found


def adopt(server: Any, sid: str) -> None:
    """Give the new session ``sid`` the shared timer (called as its ``connect`` event is triggered)."""
    sock = server.sockets.get(sid)
    if sock is not None and type(sock) is async_socket.AsyncSocket:
        sock.__class__ = PingedSocket


def timer_of(server: Any) -> PingTimer | None:
    """The server's ping timer, when its sessions are pinged by one (``shared_ping_timer`` on)."""
    found = getattr(server, "hub_pings", None)
    return found if isinstance(found, PingTimer) else None


def waiting(server: Any) -> int:
    """How many sessions wait for a ping on the shared timer (0 when it is off)."""
    found = getattr(server, "hub_pings", None)
    return len(found) if isinstance(found, PingTimer) else 0
