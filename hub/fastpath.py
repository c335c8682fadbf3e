"""The websocket fast path: one frame per event, written straight to each recipient's transport.

python-engineio sends every packet through a per-connection queue, a writer
task and one ASGI ``send`` per frame. A server-to-client websocket frame is
not masked, so the frame of an event is the same bytes for every recipient:
:func:`text_frame` builds it once, and :class:`FastWriter` writes it to each
connection's asyncio transport, coalescing what one connection receives within
``FLUSH_DELAY`` into one ``writelines`` (one system call).

How a connection gets one: :func:`install` swaps python-engineio's ASGI
websocket wrapper for :class:`HubWebSocket`, which remembers the transport
of the uvicorn protocol behind ``send`` (``asgi_send`` is a bound method of
it). Anything unexpected (long-polling, another server, a closing socket)
keeps the normal path.

Ordering: packets that did not take the fast path (acks, pings, the welcome
of a connect) wait in python-engineio's queue; an event may take the fast
path only while that queue is empty and the writer task holds no packet
taken from it (``in_flight``). The writer's own frames go through the same
:class:`FastWriter`, after whatever fast frames are still pending, so
everything for one connection leaves in the order it was sent.

Slow consumers: what the kernel does not take waits in the transport's
buffer. Past ``limit`` bytes the client is not reading; the connection is
aborted (see ``HUB_SLOW_CONSUMER_BYTES``) and counted, and nobody else waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from engineio.async_drivers.asgi import WebSocket as EngineIOWebSocket

logger = logging.getLogger("hub.fastpath")


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked websocket text frame (opcode 1) carrying ``payload``."""
    return _frame(0x81, payload)


def binary_frame(payload: bytes) -> bytes:
    """A final, unmasked websocket binary frame (opcode 2)."""
    return _frame(0x82, payload)


def _frame(first: int, payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        header = bytes((first, size))
    elif size < 65536:
        header = bytes((first, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((first, 127)) + size.to_bytes(8, "big")
    return header + payload


#: How long frames may wait to be written with the next ones (seconds). Events published
#: back to back reach the loop one per iteration or so; a millisecond lets a burst share
#: one system call per connection, at a cost far below a network round trip.
FLUSH_DELAY = 0.001


class Flusher:
    """Writes the frames queued on many connections once per turn of the event loop."""

    def __init__(self, limit: int, on_slow: Callable[[FastWriter], None]) -> None:
        self.limit = limit
        self.on_slow = on_slow
        self.dirty: list[FastWriter] = []
        self.scheduled = False

    def mark(self, writer: FastWriter) -> None:
        self.dirty.append(writer)
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_later(FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        self.scheduled = False
        dirty, self.dirty = self.dirty, []
        for writer in dirty:
            writer.flush()


class FastWriter:
    """One websocket connection's direct line to its transport."""

    __slots__ = ("socket", "protocol", "transport", "flusher", "pending", "in_flight", "dead")

    def __init__(self, socket: Any, protocol: Any, transport: Any, flusher: Flusher) -> None:
        self.socket = socket
        self.protocol = protocol
        self.transport = transport
        self.flusher = flusher
        self.pending: list[bytes] | None = None
        #: Packets the writer task took from python-engineio's queue and has not written yet.
        self.in_flight = 0
        self.dead = False

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
        """Queue ``frame``; it is written at the end of this turn of the loop, with the others."""
        if self.pending is None:
            self.pending = [frame]
            self.flusher.mark(self)
        else:
            self.pending.append(frame)

    def flush(self) -> None:
        frames, self.pending = self.pending, None
        if not frames or self.dead:
            return
        transport = self.transport
        if transport.is_closing() or getattr(self.protocol, "close_sent", False):
            self.dead = True
            return
        if len(frames) == 1:
            transport.write(frames[0])
        else:
            transport.writelines(frames)
        if transport.get_write_buffer_size() > self.flusher.limit:
            self.dead = True
            self.flusher.on_slow(self)

    def write_now(self, frame: bytes) -> None:
        """Write after anything pending (the writer task's path)."""
        if self.pending is None:
            self.pending = [frame]
        else:
            self.pending.append(frame)
        self.flush()


class HubWebSocket(EngineIOWebSocket):  # type: ignore[misc]
    """python-engineio's ASGI websocket wrapper, writing through a :class:`FastWriter` when it can."""

    flusher: Flusher | None = None

    def __init__(self, handler: Any, server: Any) -> None:
        super().__init__(handler, server)
        self.writer: FastWriter | None = None

    async def __call__(self, environ: dict[str, Any]) -> Any:
        self.asgi_receive = environ["asgi.receive"]
        self.asgi_send = environ["asgi.send"]
        await self.asgi_send({"type": "websocket.accept"})
        self.writer = self._make_writer()
        try:
            await self.handler(self)
        finally:
            if self.writer is not None:
                self.writer.dead = True
                _detach(self.writer)
        return ""  # the response was the websocket

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


def _detach(writer: FastWriter) -> None:
    sock = writer.socket
    if getattr(sock, "hub_writer", None) is writer:
        sock.hub_writer = None
        sock.__dict__.pop("poll", None)


def install(eio: Any, limit: int, on_slow: Callable[[FastWriter], None]) -> None:
    """Make ``eio`` (python-engineio's ASGI server) give its websocket connections a fast path."""
    if not isinstance(getattr(eio, "_async", None), dict) or eio._async.get("websocket") is not EngineIOWebSocket:
        logger.info("websocket fast path off: python-engineio is not in ASGI mode")
        return
    websocket_class = type("HubWebSocketBound", (HubWebSocket,), {"flusher": Flusher(limit, on_slow)})
    # A copy: the driver table is shared by every server of the process.
    eio._async = dict(eio._async, websocket=websocket_class)


def writer_of(eio: Any, eio_sid: str) -> FastWriter | None:
    """The fast path of an Engine.IO session, when it has one ready now."""
    sock = eio.sockets.get(eio_sid)
    writer: FastWriter | None = getattr(sock, "hub_writer", None)
    if writer is not None and writer.ready():
        return writer
    return None
