"""An Engine.IO websocket served by one task (optimisation ``light_websocket``).

python-engineio's ``AsyncSocket._websocket_handler`` runs, for each websocket
session, besides the server's own task for the connection: a writer task
waiting on the send queue (through ``asyncio.wait_for``, itself one more task
and a timer), and for every message read a new task and a timer (its own
``wait_for``). An idle connection keeps three tasks, their coroutines, futures
and timers for its whole life.

:func:`serve` does the same on the connection's own task: it reads with a
plain ``await``, and the writer is the send queue's listener
(:class:`hub.eio.LightQueue`), which writes what is queued at once through the
connection's :class:`~hub._compat.fastpath.FastWriter` (a synchronous write to
the transport). A session python-engineio does not close by itself no
longer needs the read timeout: the hub's ``ping_deadline`` closes a session
that misses its pong, and the end of a session ends its websocket
(:func:`ended`). So this is on only with ``websocket_fastpath``,
``light_sessions`` and ``ping_deadline``; a connection without a fast writer
or a light queue keeps python-engineio's handler.

The upgrade from long-polling (probe, NOOP, UPGRADE) is python-engineio's,
step for step; what the client sees does not change.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from engineio import async_socket, exceptions, packet

from ..eio import LightQueue
from ..fastpath import binary_frame, text_frame
from . import heartbeat
from .checks import uses

NAME = "light_websocket"
#: The optimisations this one stands on.
NEEDS = ("websocket_fastpath", "light_sessions", "ping_deadline")

logger = logging.getLogger("hub.compat")


def check() -> None:
    """What :func:`serve` does in python-engineio's place."""
    where = "engineio.async_socket.AsyncSocket._websocket_handler"
    uses(async_socket.AsyncSocket._websocket_handler,
         ["connected", "upgrading", "upgraded", "queue", "poll", "receive", "close", "max_http_buffer_size",
          "TRANSPORT_CLOSE", "UnknownPacketError", "SocketIsClosedError", "PING", "PONG", "NOOP", "UPGRADE"], where)
    uses(async_socket.AsyncSocket._upgrade_websocket, ["_websocket_handler"],
         "engineio.async_socket.AsyncSocket._upgrade_websocket")
    uses(async_socket.AsyncSocket.close, ["closing", "closed", "send", "queue"], "engineio.async_socket.AsyncSocket.close")


def usable(sock: Any, writer: Any) -> bool:
    """Whether this connection can be served here (a fast writer and a light queue)."""
    return writer is not None and isinstance(getattr(sock, "queue", None), LightQueue)


class QueueWriter:
    """The send queue's listener: each packet queued is written at once, in order."""

    __slots__ = ("sock", "ws", "writer", "draining")

    def __init__(self, sock: Any, ws: Any, writer: Any) -> None:
        self.sock = sock
        self.ws = ws
        self.writer = writer
        self.draining = False

    def __call__(self) -> None:
        if self.draining:  # a put while writing: the loop below takes it
            return
        self.draining = True
        queue = self.sock.queue
        try:
            while queue.qsize():
                pkt = queue.get_nowait()
                queue.task_done()
                if pkt is None:  # the end of the session (python-engineio's writer stops here)
                    self.end()
                    return
                encoded = pkt.encode()
                self.writer.write_now(text_frame(encoded.encode()) if isinstance(encoded, str) else binary_frame(encoded))
                if pkt.packet_type == packet.CLOSE:
                    self.end()
        finally:
            self.draining = False

    def end(self) -> None:
        """Close the websocket: the client got the session's CLOSE, or the session is gone."""
        if self.writer.dead:
            return
        if getattr(self.sock, "hub_close_reason", None) == heartbeat.PING_TIMEOUT:
            # A client that missed its pong may be gone without a word: do not wait on it.
            self.writer.dead = True
            self.writer.transport.abort()
            return
        self.sock.server.start_background_task(self.ws.close)


async def serve(sock: Any, ws: Any, writer: Any) -> None:
    """python-engineio's websocket handler for ``sock`` on ``ws``, on this task alone."""
    server = sock.server
    limit = server.max_http_buffer_size

    async def wait() -> Any:
        data = await ws.wait()
        if data and len(data) > limit:
            raise ValueError("packet is too large")
        return data

    if sock.connected:
        # An upgrade from long-polling, exactly as python-engineio does it.
        sock.upgrading = True
        try:
            pkt = await wait()
        except OSError:
            return
        decoded = packet.Packet(encoded_packet=pkt)
        if decoded.packet_type != packet.PING or decoded.data != "probe":
            sock.upgrading = False
            return
        await ws.send(packet.Packet(packet.PONG, data="probe").encode())
        await sock.queue.put(packet.Packet(packet.NOOP))  # ends the pending poll
        try:
            pkt = await wait()
        except OSError:
            sock.upgrading = False
            return
        decoded = packet.Packet(encoded_packet=pkt)
        if decoded.packet_type != packet.UPGRADE:
            sock.upgraded = False
            sock.upgrading = False
            return
        sock.upgraded = True
        sock.upgrading = False
    else:
        sock.connected = True
        sock.upgraded = True

    queue = sock.queue
    listener = QueueWriter(sock, ws, writer)
    queue.listener = listener
    server.hub_light_websockets = serving(server) + 1
    listener()  # whatever was queued before (the OPEN packet, the welcome)
    try:
        while True:
            try:
                data = await wait()
            except asyncio.CancelledError:
                raise
            except Exception:
                break
            if data is None:  # closed by the client
                break
            pkt = packet.Packet(encoded_packet=data)
            try:
                await sock.receive(pkt)
            except exceptions.UnknownPacketError:
                pass
            except exceptions.SocketIsClosedError:
                break
            except Exception:
                logger.exception("unknown receive error on %s", sock.sid)
    finally:
        queue.listener = None
        server.hub_light_websockets = serving(server) - 1
    await ws.close()
    await sock.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)


def ended(sock: Any) -> None:
    """A session the hub closed itself: end its websocket too (a listener takes the ``None``)."""
    queue = getattr(sock, "queue", None)
    if isinstance(queue, LightQueue) and queue.listener is not None:
        queue.put_nowait(None)


def serving(server: Any) -> int:
    """How many websockets ``server`` serves here now."""
    count = getattr(server, "hub_light_websockets", 0)
    return count if isinstance(count, int) else 0
