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
(:func:`.heartbeat.ended`). So this is on only with ``websocket_fastpath``,
``light_sessions`` and ``ping_deadline``; a connection without a fast writer
or a light queue keeps python-engineio's handler.

A session upgraded from long-polling keeps python-engineio's handler (see
:func:`usable`); what the client sees does not change either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
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
    """Whether this connection can be served here: a fast writer, a light queue, opened on the websocket.

    A session upgraded from long-polling keeps python-engineio's handler: its
    last GET may still be taking packets from the queue while the websocket
    starts, which only the library's writer task shares correctly with it
    (clients that upgrade are browsers by default; servers and the benchmark
    open on the websocket).
    """
    return writer is not None and isinstance(getattr(sock, "queue", None), LightQueue) and not sock.connected


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
                if isinstance(encoded, str):
                    if pkt.packet_type == packet.MESSAGE and encoded[1:2] == "0":
                        # A Socket.IO CONNECT reply: this step goes on to the hub's welcome
                        # (LocalDelivery.connect), pushed behind it; both leave in one write.
                        self.writer.write_soon(text_frame(encoded.encode()))
                    else:
                        self.writer.write_now(text_frame(encoded.encode()))
                else:
                    self.writer.write_now(binary_frame(encoded))
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


async def serve(sock: Any, ws: Any, writer: Any, on_end: Callable[[bool], Awaitable[None]]) -> bool:
    """python-engineio's websocket handler for ``sock`` on ``ws``, without a task of its own.

    Returns True when the connection was detached: the application returns
    (uvicorn's protocol keeps the connection open, see
    :mod:`hub._compat.uvicorn`) and :class:`Reader` takes each message as the
    protocol receives it; ``on_end(failed)`` runs once the websocket ends
    (``failed``: a frame python-engineio cannot decode). Otherwise this task
    reads until the end and returns False.
    """
    server = sock.server
    limit = server.max_http_buffer_size

    async def wait() -> Any:
        data = await ws.wait()
        if data and len(data) > limit:
            raise ValueError("packet is too large")
        return data

    # Only a session that opened on this websocket: an upgrade from long-polling keeps
    # python-engineio's handler (see usable()).
    sock.connected = True
    sock.upgraded = True

    queue = sock.queue
    listener = QueueWriter(sock, ws, writer)
    queue.listener = listener
    server.hub_light_websockets = serving(server) + 1
    try:
        listener()  # whatever was queued before (the OPEN packet, the welcome)
    finally:
        writer.flush()  # the 101 response held for the OPEN packet (fastpath.HubWebSocket), should none be queued
    protocol = writer.protocol
    inbound = getattr(protocol, "queue", None)
    if callable(getattr(protocol, "hub_detach", None)) and isinstance(inbound, LightQueue) and inbound.listener is None:
        reader = Reader(sock, protocol, on_end)
        inbound.listener = reader
        protocol.hub_detach()
        reader()  # whatever arrived already
        return True
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
    return False


class Reader:
    """A detached websocket's reader: the listener of uvicorn's receive queue.

    python-engineio reads one message at a time and handles it before reading
    the next (a CONNECT is handled before the EVENT after it); so does this: a
    PONG is handled at once when nothing is being handled, anything else waits
    its turn in ``inbox``, handled by one task that lives only while there is.
    """

    __slots__ = ("sock", "protocol", "inbound", "on_end", "inbox", "task", "ended")

    def __init__(self, sock: Any, protocol: Any, on_end: Callable[[bool], Awaitable[None]]) -> None:
        self.sock = sock
        self.protocol = protocol
        self.inbound: LightQueue = protocol.queue
        self.on_end = on_end
        self.inbox: list[Any] | None = None
        self.task: Any = None
        self.ended = False

    def __call__(self) -> None:
        inbound = self.inbound
        while inbound.qsize():
            message = inbound.get_nowait()
            if not self.ended:
                self.take(message)
        if self.inbox is None:
            # Soon, not now: uvicorn pauses reading right after handing a message over.
            asyncio.get_running_loop().call_soon(self.resume)

    def resume(self) -> None:
        """Read on: uvicorn pauses reading after each message until the application took it.

        While messages wait their turn in ``inbox`` reading stays paused, as
        python-engineio reads the next message only once it handled the last.
        """
        protocol = self.protocol
        if protocol.read_paused and not self.ended and not protocol.transport.is_closing():
            protocol.read_paused = False
            protocol.transport.resume_reading()

    def take(self, message: Any) -> None:
        sock = self.sock
        if message.get("type") != "websocket.receive":
            self.end(False)  # the client went away, or the server shuts down
            return
        data = message.get("bytes")
        if data is None:
            data = message.get("text")
        if data is None or len(data) > sock.server.max_http_buffer_size:
            self.end(False)  # as python-engineio: "packet is too large" ends the websocket
            return
        try:
            pkt = packet.Packet(encoded_packet=data)
        except Exception:
            logger.info("websocket of %s ended by a malformed frame", sock.sid, exc_info=True)
            self.end(True)
            return
        if pkt.packet_type == packet.PONG and self.inbox is None:
            sock.schedule_ping()  # what receive() does for a PONG, without a task
            return
        self.queue(pkt)

    def end(self, failed: bool) -> None:
        """The websocket ends, once what was read before is handled (a goodbye "41" first)."""
        if self.inbox is None:
            self.finish(failed)
        else:
            self.inbox.append(failed)

    def queue(self, item: Any) -> None:
        if self.inbox is None:
            self.inbox = [item]
            self.task = self.sock.server.start_background_task(self.handle)
        else:
            self.inbox.append(item)

    async def handle(self) -> None:
        inbox = self.inbox
        sock = self.sock
        try:
            while inbox and not self.ended:
                item = inbox[0]
                if item is True or item is False:  # the end, in its turn (see end())
                    self.finish(item)
                    break
                try:
                    await sock.receive(item)
                except exceptions.UnknownPacketError:
                    pass
                except exceptions.SocketIsClosedError:
                    self.finish(False)
                except Exception:
                    logger.exception("unknown receive error on %s", sock.sid)
                inbox.pop(0)
        finally:
            self.inbox = None
            self.task = None
        self.resume()

    def finish(self, failed: bool) -> None:
        if self.ended:
            return
        self.ended = True
        self.inbound.listener = None
        sock = self.sock
        if isinstance(sock.queue, LightQueue):
            sock.queue.listener = None
        server = sock.server
        server.hub_light_websockets = serving(server) - 1
        self.task = server.start_background_task(self.on_end, failed)


def serving(server: Any) -> int:
    """How many websockets ``server`` serves here now."""
    count = getattr(server, "hub_light_websockets", 0)
    return count if isinstance(count, int) else 0
