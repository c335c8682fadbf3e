"""The websocket fast path: one frame per event, written straight to each recipient's transport.

python-engineio sends every packet through a per-connection queue, a writer
task and one ASGI ``send`` per frame. A server-to-client websocket frame is
not masked, so the frame of an event is the same bytes for every recipient:
:func:`text_frame` builds it once, and :class:`FastWriter` writes it to each
connection's asyncio transport, coalescing what one connection receives during
a burst of events into one ``writelines`` (one system call; see ``FLUSH_MAX_DELAY``).

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


#: Frames wait while events keep coming: a burst of published events reaches the
#: loop one event every few turns (python-engineio reads one message per turn), so
#: the frames queued for a connection are written once no new event came for a
#: quiet spell, or ``FLUSH_MAX_DELAY`` after the first, whichever is sooner. The
#: quiet spell is ``FLUSH_QUIET``, or half the time the last event took to queue
#: when that is longer: with many recipients the turns between two events of a
#: burst grow with them. One write then carries many frames (one system call per
#: connection per burst instead of one per event), and a lone event waits
#: ``FLUSH_QUIET``.
FLUSH_QUIET = 0.001
FLUSH_MAX_DELAY = 0.050


class Flusher:
    """Writes the frames queued on many connections once a burst of events is over."""

    def __init__(self, limit: int, on_slow: Callable[[FastWriter], None]) -> None:
        self.limit = limit
        self.on_slow = on_slow
        self.dirty: list[FastWriter] = []
        self.scheduled = False
        self.first_at = 0.0
        self.last_at = 0.0
        self.quiet = FLUSH_QUIET

    def mark(self, writer: FastWriter) -> None:
        self.dirty.append(writer)
        if not self.scheduled:
            self.scheduled = True
            loop = asyncio.get_running_loop()
            self.first_at = self.last_at = loop.time()
            self.quiet = FLUSH_QUIET
            loop.call_later(FLUSH_QUIET, self._due)

    def event(self, started_at: float) -> None:
        """One more event was queued (on any number of connections), from ``started_at`` (loop time) until now.

        Outside a burst (nothing waiting to be written) there is nothing to extend.
        """
        if self.scheduled:
            self.last_at = now = asyncio.get_running_loop().time()
            self.quiet = max(FLUSH_QUIET, (now - started_at) / 2)

    def _due(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = min(self.last_at + self.quiet, self.first_at + FLUSH_MAX_DELAY)
        if now < deadline:
            loop.call_at(deadline, self._due)
            return
        self.flush()

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
        # One list for the connection's life, emptied by each flush: a list per
        # recipient per event would be garbage the collector keeps walking.
        self.pending: list[bytes] = []
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

    def write_now(self, frame: bytes) -> None:
        """Write after anything pending (the writer task's path)."""
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


def install(eio: Any, limit: int, on_slow: Callable[[FastWriter], None]) -> Flusher | None:
    """Make ``eio`` (python-engineio's ASGI server) give its websocket connections a fast path.

    Returns the connections' :class:`Flusher` (``None`` when there is no fast path).
    """
    if not isinstance(getattr(eio, "_async", None), dict) or eio._async.get("websocket") is not EngineIOWebSocket:
        logger.info("websocket fast path off: python-engineio is not in ASGI mode")
        return None
    flusher = Flusher(limit, on_slow)
    websocket_class = type("HubWebSocketBound", (HubWebSocket,), {"flusher": flusher})
    # A copy: the driver table is shared by every server of the process.
    eio._async = dict(eio._async, websocket=websocket_class)
    return flusher


def writer_of(eio: Any, eio_sid: str) -> FastWriter | None:
    """The fast path of an Engine.IO session, when it has one ready now."""
    sock = eio.sockets.get(eio_sid)
    writer: FastWriter | None = getattr(sock, "hub_writer", None)
    if writer is not None and writer.ready():
        return writer
    return None
