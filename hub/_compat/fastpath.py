"""The websocket fast path's hold on python-engineio and uvicorn (optimisation ``websocket_fastpath``).

python-engineio sends every packet through a per-connection queue, a writer
task and one ASGI ``send`` per frame; :mod:`hub.fastpath` builds an event's
frame once, and :class:`FastWriter` writes it straight to each connection's
asyncio transport. Getting at that transport is what leans on internals:

- :func:`install` puts :class:`HubWebSocket` in the server's copy of
  python-engineio's ASGI driver table (``_async["websocket"]``), so it must
  hold ``engineio.async_drivers.asgi.WebSocket``, the class subclassed here;
- :class:`HubWebSocket` finds the uvicorn protocol behind ``asgi.send`` (a
  bound method of it) and its ``transport``, and wraps the session's ``poll``
  to count what the writer task took from the queue (``in_flight``);
- :meth:`FastWriter.ready` reads the session's ``upgraded``, ``closing``,
  ``closed`` and ``queue``, and :meth:`FastWriter.flush` uvicorn's ``close_sent``.

:func:`check` looks for each of these at start-up; when one is missing the
fast path stays off and every event takes python-engineio's queue. Anything
unexpected on one connection (long-polling, another server, a closing socket)
keeps that connection on the normal path.

A new connection's first bytes take two writes (two segments the client wakes
up for) rather than four: hub's light handshake holds the 101 response for
:class:`HubWebSocket`, which writes it with the OPEN frame in the same loop
step (``HOLD_HEAD``), and :meth:`FastWriter.write_soon` writes the Socket.IO
CONNECT reply at the end of its step, with the welcome pushed behind it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from engineio import async_socket, base_server, base_socket
from engineio.async_drivers import asgi
from engineio.async_drivers.asgi import WebSocket as EngineIOWebSocket

from ..fastpath import Flusher, binary_frame, text_frame
from . import heartbeat, wsloop
from .checks import Missing, Report, attribute, holds, method, uses

NAME = "websocket_fastpath"
#: The reason set on a session whose websocket sent a frame python-engineio cannot decode.
PROTOCOL_ERROR = "protocol_error"
#: The reason set on a session dropped by the slow-consumer policy.
SLOW_CONSUMER = "slow_consumer"
#: The accept's key asking hub's light handshake (``hub._compat.uvicorn``) to leave the 101 to its sender.
HOLD_HEAD = "hub.hold_head"
ACCEPT = {"type": "websocket.accept"}
ACCEPT_HOLDING = {"type": "websocket.accept", HOLD_HEAD: True}

logger = logging.getLogger("hub.compat")


def check() -> None:
    """What :func:`install`, :class:`HubWebSocket` and :class:`FastWriter` rely on."""
    holds(attribute(asgi, "_async", "engineio.async_drivers.asgi"), "websocket", EngineIOWebSocket,
          "engineio.async_drivers.asgi._async")
    where = "engineio.async_drivers.asgi.WebSocket"
    method(EngineIOWebSocket, "__init__", where, ("handler", "server"))
    method(EngineIOWebSocket, "send", where, ("message",), coroutine=True)
    uses(EngineIOWebSocket.send, ["asgi_send"], f"{where}.send")
    uses(EngineIOWebSocket.wait, ["asgi_receive"], f"{where}.wait")
    method(async_socket.AsyncSocket, "poll", "engineio.async_socket.AsyncSocket", coroutine=True)
    uses(async_socket.AsyncSocket._websocket_handler, ["poll", "send", "upgraded"],
         "engineio.async_socket.AsyncSocket._websocket_handler")
    uses(base_socket.BaseSocket.__init__, ["queue", "upgraded", "closing", "closed"],
         "engineio.base_socket.BaseSocket.__init__")
    uses(base_server.BaseServer.__init__, ["sockets", "_async"], "engineio.base_server.BaseServer.__init__")
    method(EngineIOWebSocket, "close", where, coroutine=True)
    uses(base_socket.BaseSocket.__init__, ["upgrading", "closing", "closed"], "engineio.base_socket.BaseSocket.__init__")


class FastWriter:
    """One websocket connection's direct line to its transport."""

    __slots__ = ("socket", "protocol", "transport", "flusher", "pending", "in_flight", "dead", "soon")

    def __init__(self, socket: Any, protocol: Any, transport: Any, flusher: Flusher) -> None:
        self.socket = socket
        self.protocol = protocol
        self.transport = transport
        self.flusher = flusher
        # One list for the connection's life, emptied by each flush: a list per
        # recipient per event would be garbage the collector keeps walking.
        self.pending: list[bytes] = []
        #: Packets the writer task took from python-engineio's queue and has not written yet.
        self.in_flight = 0
        self.dead = False
        #: A write is due at the end of this loop step (:meth:`write_soon`).
        self.soon = False

    def ready(self) -> bool:
        """Whether a frame written now would keep this connection's order."""
        sock = self.socket
        return (
            not self.dead
            and self.in_flight == 0
            and sock.upgraded
            and not sock.closing
            and not sock.closed
            and sock.queue.qsize() == 0
        )

    def push(self, frame: bytes) -> None:
        """Queue ``frame``; it is written with the others once the burst is over (see :class:`Flusher`)."""
        pending = self.pending
        if not pending:
            self.flusher.mark(self)
        pending.append(frame)

    def flush(self) -> None:
        frames = self.pending
        if not frames:
            return
        transport = self.transport
        if self.dead or transport.is_closing() or getattr(self.protocol, "close_sent", False):
            self.dead = True
            frames.clear()
            return
        try:
            if len(frames) == 1:
                transport.write(frames[0])
            else:
                transport.writelines(frames)  # the transport keeps the frames, not the list
        finally:
            frames.clear()  # even on an error, or push would never mark this writer again
        if transport.get_write_buffer_size() > self.flusher.limit:
            self.dead = True
            self.flusher.on_slow(self)

    def describe(self) -> str:
        """The session id and the bytes still unsent, for the slow-consumer log line."""
        return f"{getattr(self.socket, 'sid', '?')} ({self.transport.get_write_buffer_size()} bytes unsent)"

    def abort(self) -> None:
        """Drop the connection now; its session ends, counted as a slow consumer."""
        self.socket.hub_close_reason = SLOW_CONSUMER
        self.transport.abort()

    def write_now(self, frame: bytes) -> None:
        """Write after anything pending (the writer task's path)."""
        self.pending.append(frame)
        self.flush()

    def write_soon(self, frame: bytes) -> None:
        """Write after anything pending, once the current task step is over (no timer, no wait for a burst).

        For a frame the same step follows with another one (a Socket.IO CONNECT
        reply, then the welcome :meth:`push` queues behind it): both leave in one
        write. Until then ``pending`` is not empty, so push does not mark this
        writer for the :class:`Flusher`: the write due here takes it too.
        """
        self.pending.append(frame)
        if not self.soon:
            self.soon = True
            asyncio.get_running_loop().call_soon(self._write_due)

    def _write_due(self) -> None:
        self.soon = False
        self.flush()


class HubWebSocket(EngineIOWebSocket):  # type: ignore[misc]
    """python-engineio's ASGI websocket wrapper, writing through a :class:`FastWriter` when it can."""

    flusher: Flusher | None = None
    #: Serve the session on this task alone (optimisation ``light_websocket``, :mod:`.wsloop`).
    light = False

    def __init__(self, handler: Any, server: Any) -> None:
        super().__init__(handler, server)
        self.writer: FastWriter | None = None

    async def __call__(self, environ: dict[str, Any]) -> Any:
        self.asgi_receive = environ["asgi.receive"]
        self.asgi_send = environ["asgi.send"]
        protocol: Any = getattr(self.asgi_send, "__self__", None)
        # The light handshake may hold the 101 for us: it then leaves with the OPEN frame.
        # Asked only of hub's protocol itself (no wrapper in between to take it from).
        hold = self.light and callable(getattr(protocol, "hub_switch", None))
        await self.asgi_send(ACCEPT_HOLDING if hold else ACCEPT)
        head = _take_head(protocol)
        light = False
        try:
            self.writer = self._make_writer()
            sock = self._socket()
            light = self.light and wsloop.usable(sock, self.writer)
        finally:
            if head is not None:
                if light:
                    assert self.writer is not None
                    self.writer.pending.append(head)  # serve() writes it with what was queued, in this step
                else:
                    protocol.transport.write(head)
        failed = detached = False
        try:
            if light:
                # Detached: served on from uvicorn's receive queue, without this task.
                detached = await wsloop.serve(sock, self, self.writer, self._finish_detached)
            else:
                await self.handler(self)
        except Exception:
            # python-engineio decodes each frame outside its error handling: a frame
            # reading "x", or an empty one, ends its handler here with a ValueError.
            failed = True
            logger.info("websocket of %s ended by a malformed frame", getattr(self._socket(), "sid", "?"),
                        exc_info=True)
        finally:
            if self.writer is not None and not detached:
                self.writer.dead = True
                _detach(self.writer)
        if not detached:
            await self._end_session(failed)
        return ""  # the response was the websocket

    async def _finish_detached(self, failed: bool) -> None:
        """The end of a websocket :func:`wsloop.serve` detached: what ``__call__`` does after its handler."""
        sock = self._socket()
        if not failed and sock is not None and not sock.closed:
            await sock.close(wait=False, abort=True, reason=sock.server.reason.TRANSPORT_CLOSE)
        if self.writer is not None:
            self.writer.dead = True
            _detach(self.writer)
        await self._end_session(failed)
        if sock is not None:
            # As python-engineio once its websocket handler returns; otherwise only the
            # heartbeat's occasional full walk would take the closed session out.
            heartbeat.drop_closed(sock.server, sock)
        await self.close()  # python-engineio's close ignores a websocket already gone

    def _socket(self) -> Any:
        return getattr(self.handler, "__self__", None)

    async def _end_session(self, failed: bool) -> None:
        """Close the Engine.IO session with its websocket, as python-engineio does only on a clean end.

        A session that never moved onto this websocket (a failed upgrade probe)
        goes on long-polling, unless the probe itself was malformed.
        """
        sock = self._socket()
        if sock is None or getattr(sock, "closed", True) or getattr(sock, "closing", True):
            return
        if not (failed or sock.upgraded):
            return
        sock.upgrading = False
        if failed:
            sock.hub_close_reason = PROTOCOL_ERROR
        await sock.close(wait=False, abort=True, reason=sock.server.reason.TRANSPORT_ERROR)
        # The handler's writer task may still wait on the queue: None lets it end now.
        sock.queue.put_nowait(None)
        await self.close()  # python-engineio's close ignores a socket already gone

    def _make_writer(self) -> FastWriter | None:
        sock = getattr(self.handler, "__self__", None)
        protocol = getattr(self.asgi_send, "__self__", None)
        transport = getattr(protocol, "transport", None)
        if self.flusher is None or sock is None or not hasattr(sock, "queue"):
            return None
        # asyncio's and uvloop's transports alike (uvloop's do not subclass asyncio.Transport).
        if not all(hasattr(transport, name) for name in ("write", "writelines", "get_write_buffer_size", "abort")):
            return None
        writer = FastWriter(sock, protocol, transport, self.flusher)
        original_poll = sock.poll

        async def poll() -> list[Any]:
            # Only the writer task polls once the socket is upgraded (a long-polling
            # GET gets a NOOP then); a GET already waiting from before is not counted.
            counted = bool(sock.upgraded)
            packets: list[Any] = await original_poll()
            if counted and writer is sock.hub_writer:
                writer.in_flight += len(packets)
            return packets

        sock.poll = poll
        sock.hub_writer = writer
        return writer

    async def send(self, message: Any) -> None:
        writer = self.writer
        if writer is None or writer.dead or not writer.socket.upgraded:
            # The probe answer of an upgrade, or no fast path: the normal ASGI send.
            await super().send(message)
            return
        writer.in_flight = max(0, writer.in_flight - 1)
        if isinstance(message, str):
            writer.write_now(text_frame(message.encode()))
        else:
            writer.write_now(binary_frame(message))


def _take_head(protocol: Any) -> bytes | None:
    """The 101 response hub's light handshake held (see ``HOLD_HEAD``), now the sender's to write."""
    head: bytes | None = getattr(protocol, "hub_head", None)
    if head is not None:
        protocol.hub_head = None
    return head


def _detach(writer: FastWriter) -> None:
    sock = writer.socket
    if getattr(sock, "hub_writer", None) is writer:
        sock.hub_writer = None
        sock.__dict__.pop("poll", None)


def install(eio: Any, compat: Report, limit: int, on_slow: Callable[[FastWriter], None]) -> Flusher | None:
    """Give the websocket connections of ``eio`` (python-engineio's ASGI server) a fast path.

    Returns the connections' :class:`Flusher`, or ``None`` when the fast path
    is off (``compat`` says why, and then every event takes the queue).
    """
    if not compat.enabled(NAME):
        return None
    drivers: Any = getattr(eio, "_async", None)
    try:
        holds(drivers, "websocket", EngineIOWebSocket, "the Engine.IO server's driver table")
    except Missing as missing:
        # Another async mode, or a server built its own way: the library's own path.
        compat.set(NAME, f"off: {missing}")
        return None
    flusher = Flusher(limit, on_slow)
    light = all(compat.enabled(name) for name in (wsloop.NAME, *wsloop.NEEDS))
    websocket_class = type("HubWebSocketBound", (HubWebSocket,), {"flusher": flusher, "light": light})
    # A copy: the driver table is shared by every server of the process.
    eio._async = dict(drivers, websocket=websocket_class)
    return flusher


def writer_of(eio: Any, eio_sid: str) -> FastWriter | None:
    """The fast path of an Engine.IO session, when it has one ready now."""
    sock = eio.sockets.get(eio_sid)
    writer: FastWriter | None = getattr(sock, "hub_writer", None)
    if writer is not None and writer.ready():
        return writer
    return None
