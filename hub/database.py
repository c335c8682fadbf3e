"""The hub's SQL database, shared by the core and the plugins: concurrent reads, and writes by the rules of the store.

SQLite takes one write transaction at a time. When several parts of one process
write on their own schedule (the event log's group commit, presence's last-seen
times, a job queue's claims), their transactions wait for SQLite's file lock and,
under a storm, give up after the busy timeout with "database is locked". So on
SQLite every write transaction of the hub goes through one writer, in this
process, in the order asked (FIFO): a transaction waits for its turn in asyncio,
never on SQLite's lock. On PostgreSQL, which takes many writers, write
transactions run side by side on the connection pool.

Reads are concurrent everywhere (SQLite's WAL lets readers run beside the writer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:  # SQLAlchemy is imported by whoever opens a database, not by ``import hub``
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)
T = TypeVar("T")
Item = TypeVar("Item")

__all__ = ["Database", "WriteBatcher", "unavailable_reason"]

#: SQLSTATEs of a database that cannot take writes now: read-only transaction, a hot standby.
READ_ONLY_SQLSTATES = {"25006"}
#: SQLSTATE classes and codes of a lost or refused connection: 08 (connection exception),
#: 57P01-57P03 (terminated by an administrator, crash shutdown, cannot connect now), 53300 (too many connections).
DOWN_SQLSTATE_CLASSES = ("08",)
DOWN_SQLSTATES = {"57P01", "57P02", "57P03", "53300"}
#: A write committed this recently proves the store takes writes: health does not probe again.
PROBE_SKIP_SECONDS = 1.0
#: The statement the write probe runs: an UPDATE that touches no row, so it writes nothing and
#: holds no lock on PostgreSQL, yet a read-only database refuses it as it refuses every write.
WRITE_PROBE = "UPDATE hub_topic_seqs SET latest_seq = latest_seq WHERE 1 = 0"


def unavailable_reason(exc: BaseException) -> str | None:
    """``"read-only"`` or ``"down"`` when ``exc`` says the database cannot take the work now; else ``None``.

    Such an error is the store's state, not the request's fault: callers answer
    ``unavailable`` (503, worth a retry) instead of ``internal``. Read by duck
    typing through the exception chain (SQLAlchemy's wrapper, the driver's error),
    so that ``import hub`` needs no SQLAlchemy.
    """
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        sqlstate = str(getattr(error, "sqlstate", "") or getattr(error, "pgcode", "") or "")
        text = str(error).lower()
        if sqlstate in READ_ONLY_SQLSTATES or "readonly database" in text or "read-only transaction" in text:
            return "read-only"
        if sqlstate in DOWN_SQLSTATES or sqlstate.startswith(DOWN_SQLSTATE_CLASSES):
            return "down"
        if getattr(error, "connection_invalidated", False) or isinstance(error, (ConnectionError, TimeoutError)):
            return "down"
        name = type(error).__name__
        # asyncpg's ConnectionDoesNotExistError, InterfaceError (connection closed); SQLAlchemy's pool timeout.
        if name in {"ConnectionDoesNotExistError", "InterfaceError", "InternalClientError"} or (
            name == "TimeoutError" and "queuepool" in text
        ) or "database is locked" in text or "disk i/o error" in text:
            return "down"
        error = getattr(error, "orig", None) or error.__cause__ or error.__context__
    return None


class Database:
    """The engine of ``url`` and the one way to write through it (``hub.database`` for plugins).

    - ``async with database.read() as connection``: a connection for reads, concurrent on every store.
    - ``async with database.write() as connection``: one transaction, committed when the block ends
      and rolled back when it raises. On SQLite (:attr:`single_writer`) write transactions of the
      whole process, the core's and every plugin's, take turns in the order they were asked for; on
      PostgreSQL they run concurrently.
    - ``await database.run_write(fn)``: ``fn(connection)`` inside :meth:`write`, its result returned.
    - ``database.batched(fn)``: a :class:`WriteBatcher` that writes many small writes issued
      together in one transaction (one fsync on SQLite instead of one per write).

    While a task holds the writer it must not wait for another write (a nested
    :meth:`write`, a durable publish, a batched write): on SQLite that would wait
    for itself, so it raises ``RuntimeError`` instead. Keep write transactions short:
    on SQLite every other writer of the hub waits for them.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        #: True on SQLite: write transactions take turns through one writer.
        self.single_writer = url.startswith("sqlite")
        self._engine: AsyncEngine | None = None
        # asyncio.Lock wakes its waiters in the order they came: FIFO writes.
        self._writer = asyncio.Lock()
        self._holder: asyncio.Task[object] | None = None
        self._waiting = 0
        #: SQLite: the one writer's connection, kept between its transactions (see :meth:`write`).
        self._kept: AsyncConnection | None = None
        #: ``time.monotonic()`` of the last committed write transaction (0: none yet).
        self.last_commit = 0.0

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy ``AsyncEngine``; for reads, or for a write only through :meth:`write`."""
        if self._engine is None:
            raise RuntimeError("the database is not started")
        return self._engine

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @property
    def waiting_writes(self) -> int:
        """Write transactions waiting for the writer (always 0 on PostgreSQL)."""
        return self._waiting

    def open(self, engine: AsyncEngine) -> None:
        """Work through ``engine`` (made by ``hub.db.create_engine``) until :meth:`close` disposes of it.

        The event log opens the database when the hub starts, before any plugin's ``hub_startup``.
        """
        self._engine = engine
        self.single_writer = engine.dialect.name == "sqlite"
        # A lock belongs to the loop it first waited on: a reopened database gets a new one.
        self._writer = asyncio.Lock()
        self._kept = None

    async def close(self) -> None:
        await self.release_writer()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    def read(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        """A connection for reads; nothing it writes is committed."""
        return self.engine.connect()

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed when the block ends, rolled back when it raises."""
        engine = self.engine
        if not self.single_writer:
            async with engine.begin() as connection:
                yield connection
            self.last_commit = time.monotonic()
            return
        task = asyncio.current_task()
        self.check_not_writing()
        self._waiting += 1
        try:
            await self._writer.acquire()
        finally:
            self._waiting -= 1
        self._holder = task
        try:
            connection = await self._writer_connection(engine)
            try:
                async with connection.begin():
                    yield connection
            except Exception as exc:
                # Rolled back, and the connection serves the next transaction; unless the
                # rollback failed too, or the store itself failed (a lost file, a full disk).
                if connection.invalidated or connection.in_transaction() or unavailable_reason(exc):
                    await self.release_writer()
                raise
            except BaseException:  # cancelled mid-transaction: whether it rolled back is unknown
                await self.release_writer()
                raise
            self.last_commit = time.monotonic()
        finally:
            self._holder = None
            self._writer.release()

    async def _writer_connection(self, engine: AsyncEngine) -> AsyncConnection:
        """The one writer's connection on SQLite, kept from one transaction to the next.

        Only the writer uses it, one transaction at a time. Checking a connection out
        of the pool and back for every transaction (with the pool's rollback on
        return) cost about 70 µs of CPU of a small transaction's 230, and every
        connect pays for presence's last-seen batch.
        """
        if self._kept is None or self._kept.closed or self._kept.invalidated:
            self._kept = await engine.connect()
        return self._kept

    async def release_writer(self) -> None:
        """Close the connection kept for writes: the next write opens a new one from the pool.

        For whoever disposes of the engine's pool or changes how it connects
        (a ``connect`` event): the kept connection is checked out, and a disposal leaves it open.
        """
        kept, self._kept = self._kept, None
        if kept is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close; it is gone anyway
                await kept.close()

    async def probe_write(self) -> str:
        """Whether the database takes writes now: ``"ok"``, ``"read-only"`` or ``"down"`` (for health).

        A real write statement, refused by a read-only database as any write is, that
        changes nothing (:data:`WRITE_PROBE`); skipped when a write committed within
        :data:`PROBE_SKIP_SECONDS`, so a busy hub's health check costs nothing. On
        SQLite it takes its turn at the one writer like every write.
        """
        if time.monotonic() - self.last_commit < PROBE_SKIP_SECONDS:
            return "ok"
        from sqlalchemy import text

        try:
            if self.single_writer:
                async with self.write() as connection:
                    await connection.execute(text(WRITE_PROBE))
            else:
                # Rolled back at the end of the block: nothing to commit, and no transaction id spent.
                async with self.engine.connect() as connection:
                    await connection.execute(text(WRITE_PROBE))
        except Exception as exc:  # health answers with a reason rather than raising
            reason = unavailable_reason(exc)
            log.warning("database write probe failed: %s", exc)
            return reason or f"error: {type(exc).__name__}"
        return "ok"

    async def run_write(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``await fn(connection)`` in one write transaction (see :meth:`write`); its result."""
        async with self.write() as connection:
            return await fn(connection)

    def batched(
        self,
        write: Callable[[AsyncConnection, list[Item]], Awaitable[None]],
        *,
        delay: float = 0.005,
        max_items: int = 1000,
        name: str = "batched write",
    ) -> WriteBatcher[Item]:
        """A :class:`WriteBatcher` whose batches ``write(connection, items)`` writes in one transaction."""
        return WriteBatcher(self, write, delay=delay, max_items=max_items, name=name)

    def holds_writer(self) -> bool:
        """Whether the current task is inside a :meth:`write` transaction on SQLite."""
        return self._holder is not None and self._holder is asyncio.current_task()

    def check_not_writing(self) -> None:
        """Raise ``RuntimeError`` where waiting for a write would wait for the current task's own transaction."""
        if self.holds_writer():
            raise RuntimeError(
                "a write was started inside a write transaction: on SQLite the hub has one writer, "
                "so it would wait for itself (finish the transaction first)"
            )


class WriteBatcher(Generic[Item]):
    """Small writes issued close together, written in one transaction: ``await batcher.submit(item)``.

    Made by :meth:`Database.batched`. The first item of a batch waits ``delay``
    seconds for others; the batch then waits for the writer, and takes every item
    submitted until it has it (at most ``max_items``), so the busier the writer,
    the larger the batches. ``write(connection, items)`` writes them all inside the
    transaction. Each ``submit`` returns once the transaction holding its item has
    committed, or raises what writing it raised: when a batch of several fails,
    each of its items is written again alone, so one bad item fails only its own
    caller. An item is written even if its caller stops waiting.
    """

    def __init__(
        self,
        database: Database,
        write: Callable[[AsyncConnection, list[Item]], Awaitable[None]],
        *,
        delay: float = 0.005,
        max_items: int = 1000,
        name: str = "batched write",
    ) -> None:
        self.database = database
        self.name = name
        self._write = write
        self._delay = delay
        self._max_items = max_items
        self._queue: list[tuple[Item, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> None:
        """Write ``item`` with the others submitted about now; returns after their COMMIT."""
        self.database.check_not_writing()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name=f"hub-{self.name}")
        await future

    async def close(self) -> None:
        """Wait until every item submitted so far is written."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def _flush(self) -> None:
        batch: list[tuple[Item, asyncio.Future[None]]] = []
        try:
            while self._queue:
                if self._delay > 0:
                    await asyncio.sleep(self._delay)
                batch = []
                try:
                    async with self.database.write() as connection:
                        # Taken only now, with the writer held: whatever came while it waited joins.
                        batch = self._take()
                        await self._write(connection, [item for item, _ in batch])
                except Exception as exc:
                    if not batch:  # the transaction did not even begin: nothing item-specific to retry
                        _fail(self._take(), exc)
                    elif len(batch) == 1:
                        _fail(batch, exc)
                    else:
                        await self._one_by_one(batch, exc)
                else:
                    _succeed(batch)
                batch = []
        except asyncio.CancelledError:
            # Stopped mid-write: nobody may wait forever; whether the batch committed is unknown.
            _fail(batch + self._queue, RuntimeError(f"{self.name}: stopped before the write finished"))
            self._queue = []
            raise

    def _take(self) -> list[tuple[Item, asyncio.Future[None]]]:
        batch, self._queue = self._queue[:self._max_items], self._queue[self._max_items:]
        return batch

    async def _one_by_one(self, batch: list[tuple[Item, asyncio.Future[None]]], exc: Exception) -> None:
        log.warning("%s: a batch of %d failed (%s); writing each alone", self.name, len(batch), exc)
        for entry in batch:
            try:
                async with self.database.write() as connection:
                    await self._write(connection, [entry[0]])
            except Exception as item_exc:
                _fail([entry], item_exc)
            else:
                _succeed([entry])


def _succeed(batch: list[tuple[Item, asyncio.Future[None]]]) -> None:
    for _, future in batch:
        if not future.done():  # its caller stopped waiting
            future.set_result(None)


def _fail(batch: list[tuple[Item, asyncio.Future[None]]], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
