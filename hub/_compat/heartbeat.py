"""Engine.IO sessions closed when their ping deadline passes (optimisation ``ping_deadline``).

python-engineio checks a session's heartbeat lazily: its service task walks the
sessions one by one over ``ping_timeout`` seconds, and a long-polling GET is
answered from the queue (with the PING the client missed) without looking at
the deadline. A session that missed its pong therefore keeps answering for up
to another ``ping_timeout``, and the hub keeps it in its connection table
(and its user online) meanwhile. Here a session whose PING went unanswered
for ``ping_timeout`` is closed by a sweep that runs several times per
``ping_timeout``, and a request that arrives for it after the deadline is
refused as for a closed session (400), as the Engine.IO protocol asks.

The internals read: a socket's ``last_ping`` (when the unanswered PING was
sent, ``None`` once answered), ``closing``, ``closed`` and ``close``; the
server's ``sockets``, ``ping_timeout``, ``service_task_event`` and the
``_service_task`` and ``_get_socket`` it replaces.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from engineio import async_server, async_socket, base_server, base_socket

from ..eio import LightQueue
from . import pings
from .checks import method, uses

NAME = "ping_deadline"
#: The reason set on a session the hub closes for a missed pong (see :func:`close_reason`).
PING_TIMEOUT = "ping_timeout"
#: Sweeps per ``ping_timeout``, and the longest pause between two (seconds).
SWEEPS_PER_TIMEOUT = 8
MAX_SWEEP_PAUSE = 1.0
#: With the shared ping timer, a sweep looks only at the PINGs past their deadline
#: (:meth:`.pings.PingTimer.overdue`); every session is walked this often at most (seconds),
#: for any session not on the timer and closed sessions nobody took out of the table.
FULL_SWEEP_SECONDS = 20.0

logger = logging.getLogger("hub.compat")


def check() -> None:
    """What :func:`expired`, :func:`sweep` and the server's overrides rely on."""
    where = "engineio.async_server.AsyncServer"
    method(async_server.AsyncServer, "_service_task", where, coroutine=True)
    method(base_server.BaseServer, "_get_socket", "engineio.base_server.BaseServer", ("sid",))
    uses(async_server.AsyncServer._service_task, ["service_task_event", "sockets"], f"{where}._service_task")
    uses(base_socket.BaseSocket.__init__, ["last_ping", "closing", "closed"], "engineio.base_socket.BaseSocket.__init__")
    uses(async_socket.AsyncSocket.check_ping_timeout, ["last_ping", "ping_timeout"],
         "engineio.async_socket.AsyncSocket.check_ping_timeout")
    method(async_socket.AsyncSocket, "close", "engineio.async_socket.AsyncSocket", ("wait", "abort", "reason"),
           coroutine=True)


def expired(sock: Any, ping_timeout: float, now: float) -> bool:
    """Whether ``sock`` sent a PING ``ping_timeout`` seconds ago or more and got no PONG."""
    last_ping = sock.last_ping
    return bool(last_ping) and not sock.closing and not sock.closed and now - last_ping >= ping_timeout


async def close_expired(server: Any, sock: Any) -> None:
    """Close a session that missed its pong, as python-engineio's own ping timeout does."""
    sock.hub_close_reason = PING_TIMEOUT
    logger.debug("%s missed its pong; closing it", sock.sid)
    # abort=False queues a CLOSE packet, which a half-open client may still read.
    await sock.close(wait=False, abort=False, reason=server.reason.PING_TIMEOUT)
    ended(sock)  # a websocket served without a task has no read timeout of its own to end it


def ended(sock: Any) -> None:
    """A session the hub closed itself: end its websocket too (see :mod:`.wsloop`).

    The send queue's listener, when it has one, takes the ``None`` and closes
    the websocket, as python-engineio's writer task does.
    """
    queue = getattr(sock, "queue", None)
    if isinstance(queue, LightQueue) and queue.listener is not None:
        queue.put_nowait(None)


async def sweep(server: Any) -> None:
    """The service task: drop closed sessions and close those past their ping deadline.

    Walking every session each time costs the loop in proportion to the
    sessions held (20,000 every second slowed every connect); with the shared
    ping timer a sweep takes only the unanswered PINGs whose deadline passed,
    and walks everything once per :data:`FULL_SWEEP_SECONDS`.
    """
    server.service_task_event = server.create_event()
    walked_at = time.monotonic()
    while not server.service_task_event.is_set():
        timeout = float(server.ping_timeout)
        pause = min(MAX_SWEEP_PAUSE, timeout / SWEEPS_PER_TIMEOUT)
        try:
            await asyncio.wait_for(server.service_task_event.wait(), timeout=pause)
            break
        except asyncio.TimeoutError:
            pass
        now = time.time()
        timer = pings.timer_of(server)
        if timer is not None:
            await _close_all(server, timer.overdue(now - timeout), timeout)
            if time.monotonic() - walked_at < max(FULL_SWEEP_SECONDS, timeout):
                continue
        walked_at = time.monotonic()
        due = []
        for sid, sock in list(server.sockets.items()):
            if sock.closed:
                server.sockets.pop(sid, None)
            elif expired(sock, timeout, now):
                due.append(sock)
        await _close_all(server, due, timeout)


async def _close_all(server: Any, socks: list[Any], timeout: float) -> None:
    for sock in socks:
        if not expired(sock, timeout, time.time()):
            continue  # answered meanwhile, or closed
        try:
            await close_expired(server, sock)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("closing %s after its ping timeout failed", getattr(sock, "sid", "?"))


def drop_closed(server: Any, sock: Any) -> None:
    """Take a closed session out of the server's table (python-engineio does it when a websocket handler returns)."""
    sid = getattr(sock, "sid", None)
    if sock.closed and sid is not None and server.sockets.get(sid) is sock:
        del server.sockets[sid]


def close_reason(eio: Any, eio_sid: str) -> str | None:
    """Why the hub closed a session itself (``ping_timeout``, ``slow_consumer``...), if it did."""
    sock = eio.sockets.get(eio_sid)
    reason = getattr(sock, "hub_close_reason", None)
    return reason if isinstance(reason, str) else None


def set_close_reason(eio: Any, eio_sid: str, reason: str) -> None:
    """Say why the hub is about to close a session (read back by :func:`close_reason`)."""
    sock = eio.sockets.get(eio_sid)
    if sock is not None:
        sock.hub_close_reason = reason
