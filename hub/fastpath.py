"""The websocket fast path: one frame per event, written straight to each recipient's transport.

python-engineio sends every packet through a per-connection queue, a writer
task and one ASGI ``send`` per frame. A server-to-client websocket frame is
not masked, so the frame of an event is the same bytes for every recipient:
:func:`text_frame` builds it once, and ``FastWriter`` writes it to each
connection's asyncio transport, coalescing what one connection receives during
a burst of events into one ``writelines`` (one system call; see ``FLUSH_MAX_DELAY``).

How a connection gets one leans on python-engineio's and uvicorn's internals,
so it lives in :mod:`hub._compat.fastpath` (``install``, ``writer_of``,
``FastWriter``), checked at start-up: when the check fails the fast path is
off (``/api/health``'s ``optimisations``) and every event takes
python-engineio's queue. This module holds what knows no library: the frames
and the :class:`Flusher`.

Ordering: packets that did not take the fast path (acks, pings, the welcome
of a connect) wait in python-engineio's queue; an event may take the fast
path only while that queue is empty and the writer task holds no packet
taken from it (``in_flight``). The writer's own frames go through the same
``FastWriter``, after whatever fast frames are still pending, so
everything for one connection leaves in the order it was sent.

Slow consumers: what the kernel does not take waits in the transport's
buffer. Past ``limit`` bytes the client is not reading; the connection is
aborted (see ``HUB_SLOW_CONSUMER_BYTES``) and counted, and nobody else waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

logger = logging.getLogger("hub.fastpath")


class Writer(Protocol):
    """One connection's writer, as the :class:`Flusher` sees it."""

    def flush(self) -> None: ...


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

    #: Called after each flush (the delivery latency is taken when the frames are written).
    on_flush: Callable[[], None] | None = None

    def __init__(self, limit: int, on_slow: Callable[[Any], None]) -> None:
        self.limit = limit
        self.on_slow = on_slow
        self.dirty: list[Writer] = []
        self.scheduled = False
        self.first_at = 0.0
        self.last_at = 0.0
        self.quiet = FLUSH_QUIET

    def mark(self, writer: Writer) -> None:
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
        if self.on_flush is not None:
            self.on_flush()


class Turn:
    """One fan-out at a time, so a backlog of them cannot starve the rest of the loop.

    An event to 10,000 websockets is one step of its task (the fast path does
    not await), about 0.2 s on a slow machine. When a publisher sends hundreds
    of events at once, each is a task, all ready together, and asyncio runs
    every ready task before it polls the sockets again: nothing is read (a
    PONG, a health check, the next request) until every one of them has gone,
    and the clients whose pong sat unread are closed for a ping timeout
    (python-engineio checks the deadline whenever it sends). Taking turns, the
    others wait on a lock, not in the ready queue, and the loop polls its
    sockets between two fan-outs. The events of a burst keep their order (the
    lock is first come, first served). A fan-out started while holding the
    turn (a hook that publishes from a disconnect the fan-out caused) goes on
    in it rather than wait for itself.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None

    async def run(self, work: Callable[[], Awaitable[None]]) -> None:
        """Await ``work()`` in this turn."""
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            await work()
            return
        async with self._lock:
            self._holder = task
            try:
                await work()
            finally:
                self._holder = None
