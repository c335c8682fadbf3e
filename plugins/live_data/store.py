"""The plugin's tables: each collection's records and the log ``seq`` they reflect.

The event log (``live:<collection>`` is durable) is the write-ahead log: a
change is appended there first, then applied here with its ``seq``. A crash in
between leaves an event the records do not reflect yet; the next write (or
the start-up) applies it from the log (:meth:`LiveStore.redo`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from hub import Database, Envelope, decode_json, encode_json

metadata = sa.MetaData()
collections = sa.Table(
    "live_data_collections", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("applied_seq", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
records = sa.Table(
    "live_data_records", metadata,
    sa.Column("collection", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
)
ids = sa.Table(
    "live_data_ids", metadata,
    sa.Column("collection", sa.String(200), primary_key=True),
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
#: The meta flag of an event whose id is a change's idempotency id (its seq is kept in live_data_ids).
IDEMPOTENT = "live_data_id"
leases = sa.Table(
    "live_data_leases", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

# One statement, so one snapshot of the database on SQLite and PostgreSQL alike:
# the records and the seq they reflect are always read together.
STATE = sa.text(
    "SELECT NULL AS k, NULL AS r, applied_seq AS s FROM live_data_collections WHERE name = :c "
    "UNION ALL SELECT key, record, NULL FROM live_data_records WHERE collection = :c"
)

State = dict[str, dict[str, Any]]


def replay(state: State, event: Envelope) -> None:
    """Apply one stored event to ``state`` (in place)."""
    data = event.data
    if event.type == "live.reset":
        state.clear()
        state.update({str(item["key"]): item["record"] for item in data.get("records", [])})
    elif event.type in ("live.added", "live.changed") and isinstance(data.get("record"), dict):
        state[str(data["key"])] = data["record"]
    elif event.type == "live.removed":
        state.pop(str(data.get("key")), None)


def undo(state: State, event: Envelope) -> None:
    """Take one stored event back out of ``state`` (in place): its ``previous`` comes back."""
    data = event.data
    if event.type == "live.reset":
        state.clear()
        state.update({str(item["key"]): item["record"] for item in data.get("previous", [])})
    elif event.type in ("live.added", "live.changed", "live.removed") and "key" in data:
        previous = data.get("previous")
        if isinstance(previous, dict):
            state[str(data["key"])] = previous
        else:
            state.pop(str(data["key"]), None)


class LiveStore:
    """Reads and writes of the records tables."""

    def __init__(self, database: Database, keep_ids: float = 7 * 86400) -> None:
        self.database = database
        #: Seconds an idempotency id is remembered (the events' retention).
        self.keep_ids = keep_ids
        self._applies = 0

    async def state(self, collection: str) -> tuple[State, int]:
        """Every record of ``collection`` and the seq they reflect (0 for a collection never written)."""
        async with self.database.read() as connection:
            rows = (await connection.execute(STATE, {"c": collection})).all()
        state: State = {}
        applied = 0
        for key, record, seq in rows:
            if key is None:
                applied = int(seq or 0)
            else:
                state[key] = decode_json(record)
        return state, applied

    async def applied(self, collection: str) -> int:
        async with self.database.read() as connection:
            value = await connection.scalar(sa.select(collections.c.applied_seq).where(collections.c.name == collection))
        return int(value or 0)

    async def records(self, collection: str, keys: Iterable[str]) -> State:
        wanted = list(set(keys))
        if not wanted:
            return {}
        async with self.database.read() as connection:
            rows = (await connection.execute(
                sa.select(records.c.key, records.c.record)
                .where(records.c.collection == collection, records.c.key.in_(wanted))
            )).all()
        return {key: decode_json(record) for key, record in rows}

    async def seqs(self, collection: str, wanted: Iterable[str]) -> dict[str, int]:
        """The seq of each change id already applied to ``collection``."""
        wanted = list(set(wanted))
        if not wanted:
            return {}
        async with self.database.read() as connection:
            rows = (await connection.execute(
                sa.select(ids.c.id, ids.c.seq).where(ids.c.collection == collection, ids.c.id.in_(wanted))
            )).all()
        return {row[0]: int(row[1]) for row in rows}

    async def names(self) -> list[str]:
        async with self.database.read() as connection:
            return list((await connection.scalars(sa.select(collections.c.name).order_by(collections.c.name))).all())

    async def apply(self, collection: str, events: Sequence[Envelope], applied: int) -> int:
        """Write ``events`` (seq order) into the records; returns the seq now applied."""
        fresh = [event for event in events if (event.seq or 0) > applied]
        if not fresh:
            return applied
        latest = max(event.seq or 0 for event in fresh)
        async with self.database.write() as connection:
            await self._ensure(connection, collection)
            current = await connection.scalar(
                sa.select(collections.c.applied_seq).where(collections.c.name == collection)
            )
            fresh = [event for event in fresh if (event.seq or 0) > (current or 0)]
            for event in fresh:
                await self._write(connection, collection, event)
            if fresh:
                await connection.execute(
                    collections.update().where(collections.c.name == collection).values(applied_seq=latest)
                )
            self._applies += 1
            if self.keep_ids and self._applies % 1000 == 1:
                await connection.execute(ids.delete().where(ids.c.created_at < time.time() - self.keep_ids))
        return latest

    async def _ensure(self, connection: Any, collection: str) -> None:
        exists = await connection.scalar(sa.select(collections.c.name).where(collections.c.name == collection))
        if exists is None:
            await connection.execute(collections.insert().values(name=collection, applied_seq=0, created_at=time.time()))

    async def _write(self, connection: Any, collection: str, event: Envelope) -> None:
        data = event.data
        if event.meta.get(IDEMPOTENT):
            await connection.execute(
                ids.insert().values(collection=collection, id=event.id, seq=event.seq, created_at=time.time())
            )
        where = records.c.collection == collection
        if event.type == "live.reset":
            await connection.execute(records.delete().where(where))
            rows = [
                {"collection": collection, "key": str(item["key"]), "record": encode_json(item["record"]).decode(),
                 "seq": event.seq}
                for item in data.get("records", [])
            ]
            if rows:
                await connection.execute(records.insert(), rows)
            return
        if event.type not in ("live.added", "live.changed", "live.removed") or "key" not in data:
            return  # not one of ours (a service published to the topic): it changes no record
        key = str(data["key"])
        await connection.execute(records.delete().where(where, records.c.key == key))
        if event.type != "live.removed" and isinstance(data.get("record"), dict):
            await connection.execute(records.insert().values(
                collection=collection, key=key, record=encode_json(data["record"]).decode(), seq=event.seq
            ))
