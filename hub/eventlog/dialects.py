"""The event log's append statements, per dialect: SQLite's and PostgreSQL's.

:mod:`hub.eventlog.sql` numbers a batch and calls these: lock the counters of
its topics, find the ids already stored, insert the events, inbox rows and new
counters, and read offline queues. The statements go to the driver with
pre-encoded JSON (SQLAlchemy's per-row bind processing cost more than the
database's own work); SQLite's can also run whole on aiosqlite's thread
(:class:`SqliteOnThread`, optimisation ``sqlite_one_trip``).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..envelope import Envelope
from ..jsoncodec import loads as _decode
from ..jsoncodec import dumps as _dumps

T = TypeVar("T")


class Encoded(Protocol):
    """What an append brings to a batch's rows: its JSON, encoded once by the caller, and its inbox."""

    data_json: str
    meta_json: str
    inbox_user: str | None


def loads_column(value: Any) -> Any:
    # asyncpg's json codec (set up by SQLAlchemy) already decodes; SQLite hands back text.
    return _decode(value) if isinstance(value, (str, bytes)) else value


def driver_envelope(row: Any) -> Envelope:
    """An envelope from a driver row (topic, seq, id, type, ts, data, meta)."""
    topic, seq, id, type, ts, data, meta = row
    return Envelope(type=type, topic=topic, data=loads_column(data), id=id, seq=seq, ts=ts, meta=loads_column(meta))


class Rows:
    """A batch's new events and inbox rows, column by column (PostgreSQL's unnest takes arrays)."""

    __slots__ = ("topic", "seq", "id", "type", "ts", "data", "meta", "inbox_user", "inbox_topic", "inbox_seq",
                 "inbox_id")

    def __init__(self) -> None:
        self.topic: list[str] = []
        self.seq: list[int] = []
        self.id: list[str] = []
        self.type: list[str] = []
        self.ts: list[str] = []
        self.data: list[str] = []
        self.meta: list[str] = []
        self.inbox_user: list[str] = []
        self.inbox_topic: list[str] = []
        self.inbox_seq: list[int] = []
        self.inbox_id: list[str] = []

    def add(self, stored: Envelope, item: Encoded) -> None:
        assert stored.seq is not None
        self.topic.append(stored.topic)
        self.seq.append(stored.seq)
        self.id.append(stored.id)
        self.type.append(stored.type)
        self.ts.append(stored.ts)
        self.data.append(item.data_json)
        self.meta.append(item.meta_json)
        if item.inbox_user is not None:
            self.inbox_user.append(item.inbox_user)
            self.inbox_topic.append(stored.topic)
            self.inbox_seq.append(stored.seq)
            self.inbox_id.append(stored.id)


class SqliteStatements:
    """The append path's statements on SQLite, each one trip to aiosqlite's thread.

    SQLite has one writer at a time, so the first write of the transaction is the lock.
    They run on the transaction's own driver connection (aiosqlite's public
    ``execute_fetchall``: the statement and its rows in one trip), inside the
    transaction SQLAlchemy began and commits: through SQLAlchemy's async layer
    each statement was four trips between the event loop and the driver's
    thread (cursor, execute, fetch, close), each a future, a wake-up of the loop
    and a switch of threads, and they cost the main thread more per
    transaction than numbering its events. The rows go as multi-row ``VALUES``
    with one parameter per column, bound as ``executemany`` binds them.
    """

    async def lock_counters(self, connection: AsyncConnection, topics: list[str]) -> dict[str, int]:
        # "WHERE true" tells SQLite's parser that ON CONFLICT is not a join constraint.
        rows = await self.query(
            connection,
            "INSERT INTO hub_topic_seqs (topic, latest_seq) SELECT value, 0 FROM json_each(?) WHERE true "
            "ON CONFLICT (topic) DO UPDATE SET latest_seq = latest_seq RETURNING topic, latest_seq",
            (_dumps(topics),),
        )
        return {topic: latest for topic, latest in rows}

    async def existing(self, connection: AsyncConnection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Envelope]:
        rows = await self.query(
            connection,
            "SELECT e.topic, e.seq, e.id, e.type, e.ts, e.data, e.meta FROM json_each(?) AS k "
            "JOIN hub_events AS e ON e.topic = json_extract(k.value, '$[0]') AND e.id = json_extract(k.value, '$[1]')",
            (_dumps(list(keys)),),
        )
        return {(row[0], row[2]): driver_envelope(row) for row in rows}

    async def insert(self, connection: AsyncConnection, rows: Rows, counters: dict[str, int], stored_at: float) -> None:
        count = len(rows.seq)
        events: list[Any] = [None] * (count * 8)
        events[0::8], events[1::8], events[2::8], events[3::8] = rows.topic, rows.seq, rows.id, rows.type
        events[4::8], events[5::8], events[6::8], events[7::8] = rows.ts, rows.data, rows.meta, [stored_at] * count
        await self.query(connection, values(
            "INSERT INTO hub_events (topic, seq, id, type, ts, data, meta, stored_at) VALUES ", 8, count), events)
        if rows.inbox_user:
            count = len(rows.inbox_user)
            inbox: list[Any] = [None] * (count * 4)
            inbox[0::4], inbox[1::4], inbox[2::4], inbox[3::4] = (
                rows.inbox_user, rows.inbox_topic, rows.inbox_seq, rows.inbox_id)
            await self.query(connection, values(
                "INSERT INTO hub_inbox (user_id, topic, seq, event_id) VALUES ", 4, count), inbox)
        # Every counter row exists (lock_counters made the missing ones): this only updates.
        latest: list[Any] = [value for item in counters.items() for value in item]
        await self.query(connection, values(
            "INSERT INTO hub_topic_seqs (topic, latest_seq) VALUES ", 2, len(counters),
            " ON CONFLICT (topic) DO UPDATE SET latest_seq = excluded.latest_seq"), latest)

    async def pending(self, connection: AsyncConnection, users: list[str]) -> Any:
        return await connection.exec_driver_sql(SQLITE_PENDING, (_dumps(users),))

    async def query(self, connection: Any, statement: str, parameters: Sequence[Any]) -> Any:
        """``statement``'s rows, run on the aiosqlite connection under ``connection`` in one trip.

        The transaction is SQLAlchemy's (begun with the first write, committed or rolled
        back there). The driver's errors are wrapped as SQLAlchemy wraps them, for the
        retry of a locked database and for ``unavailable_reason``.
        """
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        try:
            return await driver.execute_fetchall(statement, parameters)
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance(statement, parameters, exc, sqlite3.Error) from exc


class SqliteOnThread(SqliteStatements):
    """The same statements on a plain ``sqlite3`` connection, for ``_write`` run whole on aiosqlite's thread.

    Nothing here suspends: :func:`finish` runs ``_write``'s coroutine to its end in one go.
    """

    async def query(self, connection: Any, statement: str, parameters: Sequence[Any]) -> Any:
        return connection.execute(statement, parameters).fetchall()


def committed(connection: Any, result: T) -> T:
    """``result``, once ``connection``'s transaction is committed."""
    connection.commit()
    return result


def finish(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never suspends (``_write`` on :class:`SqliteOnThread`)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("a statement on aiosqlite's thread tried to wait")


@functools.lru_cache(maxsize=256)
def values(head: str, columns: int, rows: int, tail: str = "") -> str:
    """``head`` followed by ``rows`` groups of ``columns`` placeholders, then ``tail``."""
    group = "(" + ", ".join("?" * columns) + ")"
    return head + ", ".join([group] * rows) + tail


class PostgresqlStatements:
    """The append path's statements on PostgreSQL: one statement each, over arrays (unnest)."""

    async def lock_counters(self, connection: AsyncConnection, topics: list[str]) -> dict[str, int]:
        # Missing counter rows first; then FOR UPDATE locks every row in topic
        # order (the lock sits above the sort), waiting for any holder, and reads
        # the value that holder committed. No row version is written until the
        # final UPDATE, unlike a no-op "ON CONFLICT DO UPDATE".
        await connection.exec_driver_sql(
            "INSERT INTO hub_topic_seqs (topic, latest_seq) SELECT t, 0 FROM unnest($1::text[]) AS t "
            "ON CONFLICT (topic) DO NOTHING",
            (topics,),
        )
        result: Any = await connection.exec_driver_sql(
            "SELECT topic, latest_seq FROM hub_topic_seqs WHERE topic = ANY($1::text[]) ORDER BY topic FOR UPDATE",
            (topics,),
        )
        return {topic: latest for topic, latest in result}

    async def existing(self, connection: AsyncConnection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Envelope]:
        # A statement of its own, after the locks: its snapshot includes every append committed before them.
        result: Any = await connection.exec_driver_sql(
            "SELECT e.topic, e.seq, e.id, e.type, e.ts, e.data, e.meta "
            "FROM unnest($1::text[], $2::text[]) AS k(topic, id) "
            "JOIN hub_events AS e ON e.topic = k.topic AND e.id = k.id",
            ([topic for topic, _ in keys], [id for _, id in keys]),
        )
        return {(row[0], row[2]): driver_envelope(row) for row in result}

    async def insert(self, connection: AsyncConnection, rows: Rows, counters: dict[str, int], stored_at: float) -> None:
        # One statement: the inbox rows' foreign keys are checked at its end, after the events are in.
        await connection.exec_driver_sql(
            "WITH new_events AS ("
            " INSERT INTO hub_events (topic, seq, id, type, ts, data, meta, stored_at)"
            " SELECT topic, seq, id, type, ts, data::json, meta::json, $8::float8"
            " FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])"
            " AS e(topic, seq, id, type, ts, data, meta)"
            "), new_inbox AS ("
            " INSERT INTO hub_inbox (user_id, topic, seq, event_id)"
            " SELECT * FROM unnest($9::text[], $10::text[], $11::bigint[], $12::text[])"
            ") UPDATE hub_topic_seqs AS c SET latest_seq = n.latest_seq"
            " FROM unnest($13::text[], $14::bigint[]) AS n(topic, latest_seq) WHERE c.topic = n.topic",
            (rows.topic, rows.seq, rows.id, rows.type, rows.ts, rows.data, rows.meta, stored_at,
             rows.inbox_user, rows.inbox_topic, rows.inbox_seq, rows.inbox_id,
             list(counters), list(counters.values())),
        )

    async def pending(self, connection: AsyncConnection, users: list[str]) -> Any:
        return await connection.exec_driver_sql(PENDING.format(users="(SELECT unnest($1::text[]))"), (users,))


# The offline queues of several users: (user, then the event's columns), in seq order per topic.
PENDING = (
    "SELECT i.user_id, e.topic, e.seq, e.id, e.type, e.ts, e.data, e.meta FROM hub_inbox AS i"
    " JOIN hub_events AS e ON e.topic = i.topic AND e.seq = i.seq"
    " WHERE i.user_id IN {users} ORDER BY i.user_id, i.topic, i.seq"
)

SQLITE_PENDING = PENDING.format(users="(SELECT value FROM json_each(?))")

SQLITE = SqliteStatements()
SQLITE_ON_THREAD = SqliteOnThread()
POSTGRESQL = PostgresqlStatements()
