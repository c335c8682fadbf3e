"""The SQL event log: SQLite (aiosqlite) or PostgreSQL (asyncpg) through SQLAlchemy Core.

Appends are group-committed: calls that arrive while a transaction is being
written queue up and go together in the next one, and each caller returns only
after the COMMIT that holds its event. Numbering takes a row lock on each
topic's counter row first (``hub_topic_seqs``), so publishers in several
processes sharing one PostgreSQL server still get 1, 2, 3 ... with no gap and
no duplicate, and an id already stored is found before a seq is spent on it.

Every write goes through the hub's :class:`~hub.database.Database`: on SQLite a
batch's transaction takes the one writer that the plugins' writes also queue
for, so the log never waits on SQLite's lock; on PostgreSQL two batches are in
flight at once.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .. import db
from .._compat import checks as compat_checks
from .._compat import sqlite as compat_sqlite
from .._compat.sqlite import run as one_trip
from ..database import Database, unavailable_reason
from ..errors import Unavailable
from ..jsoncodec import dumps as _dumps
from ..envelope import Envelope
from ..topics import Retention
from .base import Appended, Backlog, EventLog, EventQuery, ReplayRecord, parse_cursor
from .dialects import (
    POSTGRESQL, SQLITE, SQLITE_ON_THREAD, SQLITE_PENDING, PostgresqlStatements, Rows, SqliteStatements, committed,
    driver_envelope, finish,
)
from .sqlite_reads import SqliteReads

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BATCH = 1000  # events per transaction; keeps SQLite statements well under bind-parameter limits
# Appends waiting above which a batch takes only half of them. Above the ~100 publishers a
# backend typically runs (one per keep-alive connection), so theirs go in one transaction:
# split at 64, 100 connections' publishes made two transactions of ~50, and each transaction's
# fixed cost on the event loop (SQLAlchemy, the driver's thread hand-offs) cost the hub ~20 us
# per published event over HTTP (durability_bench.py, SQLite: 167-170 -> 144-149 us of the main
# thread per event); 1,000 in-process publishers still write half while the other half waits.
SPLIT_ABOVE = 256
RETRIES = 5
# Deadlock and serialization failure (PostgreSQL), which a retry resolves.
TRANSIENT_SQLSTATES = {"40P01", "40001"}

_EVENT_COLUMNS = (db.events.c.topic, db.events.c.seq, db.events.c.id, db.events.c.type,
                  db.events.c.ts, db.events.c.data, db.events.c.meta)


MAX_PENDING_USERS = 500  # users whose offline queues one query reads
#: Seconds the first offline-queue read of a run waits for others: connects arriving about a
#: millisecond apart then share a query (one costs about as much as reading five users' queues).
PENDING_GATHER = 0.003


@dataclass(slots=True)
class _Pending:
    envelope: Envelope
    inbox_user: str | None
    future: asyncio.Future[Appended] = field(repr=False)
    # Encoded by the caller: an event that cannot be encoded fails alone, before any transaction.
    data_json: str = ""
    meta_json: str = ""
    #: A just-generated id: no stored event can have it, so it is not looked up.
    fresh_id: bool = False


class SqlEventLog(EventLog):
    """The event log in a SQL database chosen by its SQLAlchemy URL."""

    def __init__(self, url: str, branches: db.Branches | None = None) -> None:
        self.url = url
        self.branches = db.NO_PLUGINS if branches is None else branches
        #: The database the log writes through, shared with the plugins as ``hub.database``.
        self.database = Database(url)
        self._queue: list[_Pending] = []
        # Each flusher leaves this set itself when it stops looking at the queue
        # (a done callback would run a turn later, after appends that needed it).
        self._flushers: set[asyncio.Task[None]] = set()
        # The dialect's statements and how many transactions it writes at once, set by start().
        self._sql: SqliteStatements | PostgresqlStatements = SQLITE
        self._max_flushers = 1
        self._writing: set[str] = set()  # topics of the batches being written
        #: SQLite: each transaction's statements in one trip to aiosqlite's thread (hub._compat.sqlite).
        self._one_trip = False
        # Offline-queue reads waiting, by user: a connect storm reads many users' queues per query.
        self._pending_waiters: dict[str, list[asyncio.Future[list[Envelope]]]] = {}
        self._pending_reader: asyncio.Task[None] | None = None
        #: On SQLite, the offline-queue reads' own connection (one trip to the driver's thread each).
        self._sqlite_reads: SqliteReads | None = None

    @property
    def engine(self) -> AsyncEngine:
        try:
            return self.database.engine
        except RuntimeError:
            raise RuntimeError("the event log is not started") from None

    async def start(self) -> None:
        engine = db.create_engine(self.url)
        self.database.open(engine)
        # SQLite has one writer; on PostgreSQL a second transaction lets one batch's
        # callers publish again while the next batch is written.
        postgresql = engine.dialect.name == "postgresql"
        self._sql, self._max_flushers = (POSTGRESQL, 2) if postgresql else (SQLITE, 1)
        # The hub's start-up report says the same (hub._compat's checks).
        self._one_trip = not postgresql and compat_checks.run(compat_sqlite.check) == compat_checks.ON
        # A file only: an in-memory SQLite database is one connection shared by every user of the pool.
        database = engine.url.database or ""
        in_memory = database in ("", ":memory:") or "mode=memory" in str(engine.url)
        self._sqlite_reads = None if postgresql or in_memory else SqliteReads(self.database)
        try:
            # Only a SQLite file is migrated on the fly; a server is the operator's to migrate.
            await db.check_schema(engine, migrate=engine.dialect.name == "sqlite", branches=self.branches)
        except BaseException:
            await self.database.close()
            raise

    async def close(self) -> None:
        for task in [*self._flushers, self._pending_reader]:
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)
        if self._sqlite_reads is not None:
            await self._sqlite_reads.close()
        await self.database.close()

    async def health(self) -> str:
        """``"ok"``, ``"read-only"`` or ``"down"``: a write probe, since a database that answers
        ``SELECT 1`` may still refuse every publish."""
        return await self.database.probe_write()

    # -- appends --------------------------------------------------------------

    async def append(self, envelope: Envelope, inbox_user: str | None = None, *, fresh_id: bool = False) -> Appended:
        # Inside a write transaction on SQLite the append would wait for that transaction's own writer.
        self.database.check_not_writing()
        data_json, meta_json = _dumps(envelope.data), _dumps(envelope.meta)
        future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(envelope, inbox_user, future, data_json, meta_json, fresh_id))
        if len(self._flushers) < self._max_flushers:
            task = asyncio.create_task(self._flush(), name="hub-eventlog-flush")
            self._flushers.add(task)
            # Only for a task cancelled before its first step, which never reaches its finally.
            task.add_done_callback(self._flushers.discard)
        # A caller that gives up cancels only its own future, never the flusher
        # task and its transaction, which also carries other callers' events
        # (``_settle`` skips a cancelled future). No shield: it costs a future
        # and two callbacks per event.
        return await future

    async def _flush(self) -> None:
        """Write queued appends, a batch per transaction, until the queue is empty."""
        batch: list[_Pending] = []
        try:
            while self._queue:
                # With many waiting, write half now: its callers go on with their
                # next publish while the other half is written, so Python and the
                # database work side by side instead of taking turns.
                batch = self._take()
                if not batch:
                    break  # every waiting topic is being written; that flusher goes on
                topics = {item.envelope.topic for item in batch}
                self._writing |= topics
                try:
                    await self._write_batch(batch)
                finally:
                    self._writing -= topics
                batch = []
        except asyncio.CancelledError:
            # Shut down mid-write: nobody may wait forever. Whether the batch
            # committed is unknown; appending again with the same ids is safe.
            for item in batch + self._queue:
                _settle(item.future, exc=RuntimeError("the event log was closed during the append"))
            self._queue = []
            raise
        finally:
            # No await between the last look at the queue and this.
            task = asyncio.current_task()
            if task is not None:
                self._flushers.discard(task)

    def _take(self) -> list[_Pending]:
        """The next batch, in queue order, leaving the topics another transaction is writing.

        Two transactions never share a topic, so events of one topic are
        numbered in the order they were appended.
        """
        waiting = len(self._queue)
        size = min(MAX_BATCH, waiting if waiting <= SPLIT_ABOVE else -(-waiting // 2))
        if not self._writing:
            batch, self._queue = self._queue[:size], self._queue[size:]
            return batch
        batch, rest = [], []
        for item in self._queue:
            if len(batch) < size and item.envelope.topic not in self._writing:
                batch.append(item)
            else:
                rest.append(item)
        self._queue = rest
        return batch

    async def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            await self._write_with_retry(batch)
        except Exception as exc:
            reason = unavailable_reason(exc)
            if reason is not None:
                # The store's state, not one bad event: every caller gets `unavailable` (503, retry
                # with the same id), and writing each alone would only fail again.
                log.warning("event log: the database is %s (%s)", reason, exc)
                error = Unavailable(f"The event store cannot take writes now ({reason}); retry with the same id.")
                for item in batch:
                    _settle(item.future, exc=error)
                return
            if len(batch) == 1:
                _settle(batch[0].future, exc=exc)
                return
            # One bad event must not sink the others: write each on its own.
            log.warning("event log batch of %d failed (%s); retrying one by one", len(batch), exc)
            for item in batch:
                try:
                    await self._write_with_retry([item])
                except Exception as item_exc:
                    _settle(item.future, exc=item_exc)

    async def _write_with_retry(self, batch: list[_Pending]) -> None:
        for attempt in range(RETRIES):
            committed = False
            try:
                # On SQLite this waits for the one writer, behind the plugins' writes asked for before.
                async with self.database.write() as connection:
                    if self._one_trip:
                        results = await self._write_in_one_trip(connection, batch)
                        # Committed on aiosqlite's thread: the callers need not wait for the trips
                        # that end SQLAlchemy's transaction (a COMMIT with nothing left to commit,
                        # the pool's rollback).
                        committed = True
                        for item, result in zip(batch, results):
                            _settle(item.future, result=result)
                    else:
                        results = await self._write(connection, batch)
            except Exception as exc:
                if committed:
                    # Stored and answered; never written again (a retry would store the events twice).
                    log.warning("event log: closing a committed append transaction failed (%s)", exc)
                    return
                if not isinstance(exc, sa.exc.DBAPIError):
                    raise
                if attempt + 1 < RETRIES and _transient(exc):
                    await asyncio.sleep(0.01 * (attempt + 1))
                    continue
                if attempt + 1 < RETRIES and exc.connection_invalidated:
                    # A pooled connection found dead (a restarted server, a terminated backend): the
                    # pool drops it and the next attempt takes a fresh one. It may have died during
                    # COMMIT, so fresh ids are looked up too: a committed event is found, not doubled.
                    for item in batch:
                        item.fresh_id = False
                    continue
                raise
            # Only now, after COMMIT, do the callers learn their events are stored.
            for item, result in zip(batch, results):
                _settle(item.future, result=result)
            return

    async def _write_in_one_trip(self, connection: AsyncConnection, batch: list[_Pending]) -> list[Appended]:
        """``_write`` on SQLite, run whole on aiosqlite's thread and committed there: one trip.

        The COMMIT (synchronous=FULL: on disk) is done when this returns.
        """
        raw = await connection.get_raw_connection()
        try:
            return await one_trip(raw.driver_connection, lambda conn: committed(
                conn, finish(self._write(conn, batch, SQLITE_ON_THREAD))))
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance("(the event log's append)", [], exc, sqlite3.Error) from exc

    async def _write(self, connection: Any, batch: list[_Pending], sql: Any = None) -> list[Appended]:
        """Number and insert ``batch`` inside the caller's transaction; one result per item.

        ``sql``: the statements (the dialect's by default; :class:`SqliteOnThread` with a
        ``sqlite3`` connection on aiosqlite's thread).
        """
        # The statements go through the driver with pre-encoded JSON: SQLAlchemy's
        # per-row bind processing cost more than the database's own work.
        sql = sql or self._sql
        topics = sorted({item.envelope.topic for item in batch})
        # 1. Lock every counter row of the batch (creating missing ones), in topic
        #    order so two processes never wait on each other in a cycle. Until
        #    COMMIT no one else can number or insert events of these topics.
        latest = await sql.lock_counters(connection, topics)
        # 2. Ids already stored: with the locks held, this sees every committed append.
        keys = {(item.envelope.topic, item.envelope.id) for item in batch if not item.fresh_id}
        existing = await sql.existing(connection, keys) if keys else {}
        # 3. Number the new ones; a repeated id within the batch resolves to the first.
        results: list[Appended] = []
        rows = Rows()
        for item in batch:
            envelope = item.envelope
            key = (envelope.topic, envelope.id)
            found = existing.get(key)
            if found is not None:
                results.append(Appended(found, created=False))
                continue
            seq = latest[envelope.topic] = latest[envelope.topic] + 1
            stored = _with_seq(envelope, seq)
            existing[key] = stored
            results.append(Appended(stored, created=True))
            rows.add(stored, item)
        if rows.seq:
            await sql.insert(connection, rows, {topic: latest[topic] for topic in rows.topic}, time.time())
        return results

    # -- reads ------------------------------------------------------------------

    async def latest_seq(self, topic: str) -> int:
        async with self.database.read() as connection:
            return await _latest(connection, topic)

    async def backlog(self, topic: str, since: int, limit: int | None = None) -> Backlog:
        async with self.database.read() as connection:
            latest = await _latest(connection, topic)
            # Bounded by the latest read first, so the answer is one consistent
            # cut even while appends go on.
            query = (
                sa.select(*_EVENT_COLUMNS)
                .where(db.events.c.topic == topic, db.events.c.seq > since, db.events.c.seq <= latest)
                .order_by(db.events.c.seq)
            )
            if limit is not None:
                query = query.limit(limit)
            events = [_envelope(row) for row in await connection.execute(query)]
        # Numbering has no gaps, so the stored run is complete when it starts
        # right after ``since``, has no holes, and (unless cut by ``limit``)
        # reaches the latest seq. Retention may have dropped events before,
        # between (events kept for an inbox) or after (age) the ones stored.
        contiguous = all(event.seq == since + 1 + index for index, event in enumerate(events))
        truncated = limit is not None and len(events) >= limit
        reaches = truncated or (events[-1].seq if events else since) == latest
        return Backlog(events, contiguous and reaches, latest)

    async def pending(self, user: str) -> Sequence[Envelope]:
        future: asyncio.Future[list[Envelope]] = asyncio.get_running_loop().create_future()
        self._pending_waiters.setdefault(user, []).append(future)
        if self._pending_reader is None or self._pending_reader.done():
            self._pending_reader = asyncio.create_task(self._read_pending(), name="hub-eventlog-pending")
        return await future

    async def _read_pending(self) -> None:
        """Read the offline queues of every user waiting, many users per query, until none waits."""
        await asyncio.sleep(PENDING_GATHER)
        while self._pending_waiters:
            users = list(itertools.islice(self._pending_waiters, MAX_PENDING_USERS))
            waiters = {user: self._pending_waiters.pop(user) for user in users}
            try:
                # Plain driver rows: a reconnecting user's whole queue comes back at
                # once, and SQLAlchemy's per-row type processing cost more than the query.
                if self._sqlite_reads is not None:
                    rows = await self._sqlite_reads.fetch(SQLITE_PENDING, (_dumps(users),))
                else:
                    async with self.database.read() as connection:
                        rows = await self._sql.pending(connection, users)
            except asyncio.CancelledError:
                for futures in waiters.values():
                    for future in futures:
                        future.cancel()
                raise
            except Exception as exc:
                for futures in waiters.values():
                    for future in futures:
                        _settle(future, exc=exc)
                continue
            queues: dict[str, list[Envelope]] = {user: [] for user in users}
            for row in rows:
                queues[row[0]].append(driver_envelope(row[1:]))
            for user, futures in waiters.items():
                for future in futures:
                    _settle(future, result=list(queues[user]))

    async def ack(self, user: str, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        async with self.database.write() as connection:
            result = await connection.execute(
                sa.delete(db.inbox).where(db.inbox.c.user_id == user, db.inbox.c.event_id.in_(set(ids)))
            )
        return int(result.rowcount)

    # -- retention --------------------------------------------------------------

    async def trim(self, topic_prefix: str, retention: Retention) -> int:
        events = db.events
        # Events still waiting in an inbox are kept: the offline queue holds
        # them until they are acknowledged, whatever the retention.
        not_pending = ~sa.exists().where(db.inbox.c.topic == events.c.topic, db.inbox.c.seq == events.c.seq)
        in_scope = events.c.topic.startswith(topic_prefix, autoescape=True)
        dropped = 0
        async with self.database.write() as connection:
            if retention.max_age is not None:
                cutoff = time.time() - retention.max_age
                result = await connection.execute(
                    sa.delete(events).where(in_scope, events.c.stored_at < cutoff, not_pending)
                )
                dropped += int(result.rowcount)
            if retention.max_count is not None:
                # The newest max_count seqs of a topic are those above latest - max_count;
                # the counter, not the stored rows, says which are newest.
                latest = (
                    sa.select(db.topic_seqs.c.latest_seq)
                    .where(db.topic_seqs.c.topic == events.c.topic)
                    .scalar_subquery()
                )
                result = await connection.execute(
                    sa.delete(events).where(in_scope, events.c.seq <= latest - retention.max_count, not_pending)
                )
                dropped += int(result.rowcount)
        return dropped

    # -- admin search and replays -------------------------------------------------

    async def query(self, query: EventQuery) -> Sequence[Envelope]:
        events = db.events
        conditions: list[Any] = []
        if query.topic is not None:
            conditions.append(events.c.topic == query.topic)
        if query.type is not None:
            conditions.append(events.c.type == query.type)
        if query.user is not None:
            conditions.append(sa.or_(
                events.c.meta["sender"].as_string() == query.user, events.c.topic == f"user:{query.user}"
            ))
        if query.ts_from is not None:
            conditions.append(events.c.ts >= query.ts_from)
        if query.ts_to is not None:
            conditions.append(events.c.ts <= query.ts_to)
        if query.seq_from is not None:
            conditions.append(events.c.seq >= query.seq_from)
        if query.seq_to is not None:
            conditions.append(events.c.seq <= query.seq_to)
        order = (events.c.ts, events.c.seq, events.c.topic)
        if query.after is not None:
            conditions.append(sa.tuple_(*order) > sa.tuple_(*(sa.literal(v) for v in parse_cursor(query.after))))
        statement = sa.select(*_EVENT_COLUMNS).where(*conditions).order_by(*order).limit(query.limit)
        async with self.database.read() as connection:
            return [_envelope(row) for row in await connection.execute(statement)]

    async def record_replay(self, record: ReplayRecord) -> None:
        # A long replay goes page by page under one id: its record is updated, not duplicated.
        values = dict(
            actor=record.actor, requested_at=record.requested_at, filters=record.filters,
            target_user=record.target_user, count=record.count, dry_run=record.dry_run,
        )
        async with self.database.write() as connection:
            updated = await connection.execute(sa.update(db.replays).where(db.replays.c.id == record.id).values(**values))
            if not updated.rowcount:
                await connection.execute(sa.insert(db.replays).values(id=record.id, **values))

    async def replays(self, limit: int = 100) -> Sequence[ReplayRecord]:
        statement = sa.select(*_REPLAY_COLUMNS).order_by(db.replays.c.n.desc()).limit(limit)
        async with self.database.read() as connection:
            return [ReplayRecord(**row._mapping) for row in await connection.execute(statement)]

    async def replay(self, replay_id: str) -> ReplayRecord | None:
        statement = sa.select(*_REPLAY_COLUMNS).where(db.replays.c.id == replay_id)
        async with self.database.read() as connection:
            row = (await connection.execute(statement)).first()
        return ReplayRecord(**row._mapping) if row is not None else None


_REPLAY_COLUMNS = tuple(
    db.replays.c[name] for name in ("id", "actor", "requested_at", "filters", "target_user", "count", "dry_run")
)


async def _latest(connection: AsyncConnection, topic: str) -> int:
    value = await connection.scalar(sa.select(db.topic_seqs.c.latest_seq).where(db.topic_seqs.c.topic == topic))
    return int(value or 0)


def _with_seq(envelope: Envelope, seq: int) -> Envelope:
    # Envelope.with_seq goes through dataclasses.replace, several times slower per event.
    return Envelope(type=envelope.type, topic=envelope.topic, data=envelope.data, id=envelope.id,
                    seq=seq, ts=envelope.ts, meta=envelope.meta, v=envelope.v)


def _envelope(row: Any) -> Envelope:
    return Envelope(type=row.type, topic=row.topic, data=row.data, id=row.id, seq=row.seq, ts=row.ts, meta=row.meta)


def _transient(exc: sa.exc.DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(getattr(exc.orig, "__cause__", None), "sqlstate", None)
    return sqlstate in TRANSIENT_SQLSTATES or "database is locked" in str(exc.orig)


def _settle(future: asyncio.Future[T], result: T | None = None, exc: BaseException | None = None) -> None:
    if future.done():  # the caller was cancelled
        return
    if exc is not None:
        future.set_exception(exc)
    elif result is not None:
        future.set_result(result)
