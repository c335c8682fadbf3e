"""What this process publishes to the other processes: in emit order, many messages per round trip.

Every emit of a hub on Redis is published to one channel, from which the other
processes deliver it to their own subscribers. Published one by one, each emit
held a pooled connection until Redis answered, so a burst of events (a batch
publish, a client sending hundreds of publishes at once: each is a task, all
ready together) took one connection per event at the same moment. Past
redis-py's pool limit (100 connections since redis-py 6) the rest failed with
``MaxConnectionsError``: the broker was marked down and those events never
left the process (an ephemeral one is lost for good; a durable one waited for
the recovery pass). Nor was their order kept across connections.

An :class:`Outbox` queues the messages, and one sender task writes all that
is queued as one batch (a pipeline of ``PUBLISH`` commands: one write, one
round trip, one connection) while the next messages queue behind it. A burst
goes out in a few round trips, in the order it was emitted; a lone message
goes at once. Each publisher still waits until its message was sent (or
failed), as it waited for its own ``PUBLISH`` before: a request is answered
once its event is on its way, and a slow Redis holds the publishers back
rather than filling memory.

Its round trips are timed by :func:`patient_timeout`: a burst of fan-outs can
keep the event loop in one step for seconds (every ready task runs before the
loop polls its sockets again), so a reply that came meanwhile is read only
after that step, while a timer due during it fires first. A plain timeout then
reported a batch Redis had published as failed; retried, it reached the other
processes twice (the benchmark saw 5,000 duplicate deliveries, one event).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

logger = logging.getLogger("hub.broker")

#: Most messages in one batch: a burst larger than this goes in several round trips.
MAX_BATCH = 500

Message = str | bytes
#: What an outbox queues: encoded messages (the hub's manager) or python-socketio's own (the fallback's).
M = TypeVar("M")

#: A deadline that fires this much after it was due fired late: the loop was busy, not waiting.
LATE = 0.05
#: What a late deadline gives the reply (at most ``MAX_EXTENSIONS`` times).
GRACE = 0.2
MAX_EXTENSIONS = 10


@contextlib.asynccontextmanager
async def patient_timeout(seconds: float) -> AsyncIterator[None]:
    """``asyncio.timeout(seconds)``, extended when its deadline came while the event loop was stalled.

    A deadline that fires more than ``LATE`` after it was due says the loop did
    not poll its sockets meanwhile, so nothing can be concluded about the peer:
    the wait gets ``GRACE`` more, in which the loop reads whatever came.
    """
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(None) as scope:
        extensions = 0
        handle: asyncio.TimerHandle | None = None

        def expire(due: float) -> None:
            nonlocal handle, extensions
            now = loop.time()
            if now - due > LATE and extensions < MAX_EXTENSIONS:
                extensions += 1
                handle = loop.call_at(now + GRACE, expire, now + GRACE)
            else:
                scope.reschedule(now)

        due = loop.time() + seconds
        handle = loop.call_at(due, expire, due)
        try:
            yield
        finally:
            handle.cancel()  # the last one armed


def timed_out(exc: BaseException) -> bool:
    """Whether ``exc`` is a timeout (asyncio's, or redis-py's and valkey's own), after which the command may have run."""
    return isinstance(exc, TimeoutError) or type(exc).__name__ == "TimeoutError"


class Outbox(Generic[M]):
    """Messages queued in order, sent in batches by one task.

    ``send(messages)`` sends one batch, in order, raising when it could not;
    ``failed(exc, count)`` is told of a batch of ``count`` messages that could
    not be sent. A publisher is never failed: a message that could not be sent
    is counted and dropped (durable events stay in the log).
    """

    def __init__(self, send: Callable[[list[M]], Awaitable[None]],
                 failed: Callable[[BaseException, int], None]) -> None:
        self._send = send
        self._failed = failed
        self._queue: list[tuple[M, asyncio.Future[None]]] = []
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def __len__(self) -> int:
        return len(self._queue)

    async def put(self, message: M) -> None:
        """Queue ``message``; return once the batch holding it was sent, or could not be."""
        if self._stopped:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((message, done))
        self._ready.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="broker-outbox")
        await done

    async def stop(self) -> None:
        """Stop sending; whoever still waits is released (their messages are not sent)."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._release(self._queue)
        self._queue = []

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                try:
                    await self._send([message for message, _ in batch])
                except asyncio.CancelledError:
                    self._release(batch)
                    raise
                except Exception as exc:
                    try:
                        self._failed(exc, len(batch))
                    except Exception:
                        logger.exception("reporting a failed publish failed")
                self._release(batch)

    @staticmethod
    def _release(batch: list[tuple[Any, asyncio.Future[None]]]) -> None:
        for _, done in batch:
            if not done.done():  # a publisher cancelled meanwhile cancelled its own
                done.set_result(None)
