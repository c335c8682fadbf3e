"""The SQL event log: SQLite (aiosqlite) or PostgreSQL (asyncpg) through SQLAlchemy Core.

Appends are group-committed: calls that arrive while a transaction is being
written queue up and go together in the next one, and each caller returns only
after the COMMIT that holds its event. Numbering takes a row lock on each
topic's counter row first (``hub_topic_seqs``), so publishers in several
processes sharing one PostgreSQL server still get 1, 2, 3 ... with no gap and
no duplicate, and an id already stored is found before a seq is spent on it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .. import db
from ..envelope import Envelope
from ..topics import Retention
from .base import Appended, Backlog, EventLog, EventQuery, ReplayRecord, parse_cursor

log = logging.getLogger(__name__)

MAX_BATCH = 500  # events per transaction; keeps statements well under bind-parameter limits
RETRIES = 5
# Deadlock and serialization failure (PostgreSQL), which a retry resolves.
TRANSIENT_SQLSTATES = {"40P01", "40001"}

_EVENT_COLUMNS = (db.events.c.topic, db.events.c.seq, db.events.c.id, db.events.c.type,
                  db.events.c.ts, db.events.c.data, db.events.c.meta)


@dataclass
class _Pending:
    envelope: Envelope
    inbox_user: str | None
    future: asyncio.Future[Appended] = field(repr=False)


class SqlEventLog(EventLog):
    """The event log in a SQL database chosen by its SQLAlchemy URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: AsyncEngine | None = None
        self._queue: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("the event log is not started")
        return self._engine

    async def start(self) -> None:
        self._engine = db.create_engine(self.url)
        try:
            # Only a SQLite file is created on the fly; a server is the operator's to migrate.
            await db.check_schema(self._engine, create_if_empty=self._engine.dialect.name == "sqlite")
        except BaseException:
            await self._engine.dispose()
            self._engine = None
            raise

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def health(self) -> str:
        try:
            async with self.engine.connect() as connection:
                await connection.execute(sa.text("SELECT 1"))
        except Exception as exc:  # health answers with a reason rather than raising
            return f"unavailable: {type(exc).__name__}"
        return "ok"

    # -- appends --------------------------------------------------------------

    async def append(self, envelope: Envelope, inbox_user: str | None = None) -> Appended:
        future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(envelope, inbox_user, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="hub-eventlog-flush")
        # shield: a caller that gives up must not cancel the transaction that
        # also carries other callers' events.
        return await asyncio.shield(future)

    async def _flush(self) -> None:
        """Write queued appends, a batch per transaction, until the queue is empty."""
        batch: list[_Pending] = []
        try:
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                await self._write_batch(batch)
        except asyncio.CancelledError:
            # Shut down mid-write: nobody may wait forever. Whether the batch
            # committed is unknown; appending again with the same ids is safe.
            for item in batch + self._queue:
                _settle(item.future, exc=RuntimeError("the event log was closed during the append"))
            self._queue = []
            raise

    async def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            await self._write_with_retry(batch)
        except Exception as exc:
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
            try:
                async with self.engine.begin() as connection:
                    results = await self._write(connection, batch)
            except sa.exc.DBAPIError as exc:
                if attempt + 1 < RETRIES and _transient(exc):
                    await asyncio.sleep(0.01 * (attempt + 1))
                    continue
                raise
            # Only now, after COMMIT, do the callers learn their events are stored.
            for item, result in zip(batch, results):
                _settle(item.future, result=result)
            return

    async def _write(self, connection: AsyncConnection, batch: list[_Pending]) -> list[Appended]:
        """Number and insert ``batch`` inside the caller's transaction; one result per item."""
        topics = sorted({item.envelope.topic for item in batch})
        # 1. Lock every counter row of the batch (creating missing ones), in topic
        #    order so two processes never wait on each other in a cycle. Until
        #    COMMIT no one else can number or insert events of these topics.
        latest = await self._lock_counters(connection, topics)
        # 2. Ids already stored: with the locks held, this sees every committed append.
        keys = sorted({(item.envelope.topic, item.envelope.id) for item in batch})
        existing: dict[tuple[str, str], Envelope] = {}
        # Row-value IN probes the (topic, id) index once per key; separate
        # "topic IN ... AND id IN ..." lists would probe every combination.
        rows = await connection.execute(
            sa.select(*_EVENT_COLUMNS).where(sa.tuple_(db.events.c.topic, db.events.c.id).in_(keys))
        )
        for row in rows:
            existing[(row.topic, row.id)] = _envelope(row)
        # 3. Number the new ones; a repeated id within the batch resolves to the first.
        results: list[Appended] = []
        new_events: list[dict[str, Any]] = []
        new_inbox: list[dict[str, Any]] = []
        stored_at = time.time()
        for item in batch:
            envelope = item.envelope
            key = (envelope.topic, envelope.id)
            if key in existing:
                results.append(Appended(existing[key], created=False))
                continue
            latest[envelope.topic] += 1
            stored = envelope.with_seq(latest[envelope.topic])
            existing[key] = stored
            results.append(Appended(stored, created=True))
            new_events.append({
                "topic": stored.topic, "seq": stored.seq, "id": stored.id, "type": stored.type,
                "ts": stored.ts, "data": stored.data, "meta": stored.meta, "stored_at": stored_at,
            })
            if item.inbox_user is not None:
                new_inbox.append(
                    {"user_id": item.inbox_user, "topic": stored.topic, "seq": stored.seq, "event_id": stored.id}
                )
        if not new_events:
            return results
        await connection.execute(sa.insert(db.events), new_events)
        if new_inbox:
            await connection.execute(sa.insert(db.inbox), new_inbox)
        changed = sorted({row["topic"] for row in new_events})
        await connection.execute(
            sa.update(db.topic_seqs)
            .where(db.topic_seqs.c.topic == sa.bindparam("t"))
            .values(latest_seq=sa.bindparam("s")),
            [{"t": topic, "s": latest[topic]} for topic in changed],
        )
        return results

    async def _lock_counters(self, connection: AsyncConnection, topics: list[str]) -> dict[str, int]:
        """``{topic: latest_seq}`` with each topic's counter row locked for this transaction."""
        rows_in = [{"topic": topic, "latest_seq": 0} for topic in topics]
        statement: Any
        if connection.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgresql_insert

            statement = postgresql_insert(db.topic_seqs).values(rows_in)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            statement = sqlite_insert(db.topic_seqs).values(rows_in)
        # A no-op update still takes the row lock (waiting for any holder), and
        # RETURNING hands back the value committed by that holder.
        statement = statement.on_conflict_do_update(
            index_elements=[db.topic_seqs.c.topic],
            set_={"latest_seq": db.topic_seqs.c.latest_seq},
        ).returning(db.topic_seqs.c.topic, db.topic_seqs.c.latest_seq)
        rows = await connection.execute(statement)
        return {row.topic: row.latest_seq for row in rows}

    # -- reads ------------------------------------------------------------------

    async def latest_seq(self, topic: str) -> int:
        async with self.engine.connect() as connection:
            return await _latest(connection, topic)

    async def backlog(self, topic: str, since: int, limit: int | None = None) -> Backlog:
        async with self.engine.connect() as connection:
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
        query = (
            sa.select(*_EVENT_COLUMNS)
            .select_from(db.inbox.join(
                db.events, sa.and_(db.inbox.c.topic == db.events.c.topic, db.inbox.c.seq == db.events.c.seq)
            ))
            .where(db.inbox.c.user_id == user)
            .order_by(db.inbox.c.topic, db.inbox.c.seq)
        )
        async with self.engine.connect() as connection:
            return [_envelope(row) for row in await connection.execute(query)]

    async def ack(self, user: str, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        async with self.engine.begin() as connection:
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
        async with self.engine.begin() as connection:
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
        async with self.engine.connect() as connection:
            return [_envelope(row) for row in await connection.execute(statement)]

    async def record_replay(self, record: ReplayRecord) -> None:
        # A long replay goes page by page under one id: its record is updated, not duplicated.
        values = dict(
            actor=record.actor, requested_at=record.requested_at, filters=record.filters,
            target_user=record.target_user, count=record.count, dry_run=record.dry_run,
        )
        async with self.engine.begin() as connection:
            updated = await connection.execute(sa.update(db.replays).where(db.replays.c.id == record.id).values(**values))
            if not updated.rowcount:
                await connection.execute(sa.insert(db.replays).values(id=record.id, **values))

    async def replays(self, limit: int = 100) -> Sequence[ReplayRecord]:
        columns = [db.replays.c[name] for name in
                   ("id", "actor", "requested_at", "filters", "target_user", "count", "dry_run")]
        statement = sa.select(*columns).order_by(db.replays.c.n.desc()).limit(limit)
        async with self.engine.connect() as connection:
            return [ReplayRecord(**row._mapping) for row in await connection.execute(statement)]


async def _latest(connection: AsyncConnection, topic: str) -> int:
    value = await connection.scalar(sa.select(db.topic_seqs.c.latest_seq).where(db.topic_seqs.c.topic == topic))
    return int(value or 0)


def _envelope(row: Any) -> Envelope:
    return Envelope(type=row.type, topic=row.topic, data=row.data, id=row.id, seq=row.seq, ts=row.ts, meta=row.meta)


def _transient(exc: sa.exc.DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(getattr(exc.orig, "__cause__", None), "sqlstate", None)
    return sqlstate in TRANSIENT_SQLSTATES or "database is locked" in str(exc.orig)


def _settle(future: asyncio.Future[Appended], result: Appended | None = None, exc: BaseException | None = None) -> None:
    if future.done():  # the caller was cancelled
        return
    if exc is not None:
        future.set_exception(exc)
    elif result is not None:
        future.set_result(result)
