"""When each user was last seen online: the ``presence_last_seen`` table (migration ``presence_0001``).

Written when a user's last connection ends, for every online user
periodically and when the hub stops, so the value survives a restart (and is
at most one interval old after a crash). A hub without SQL storage
(``memory://``) keeps it in memory only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import Database

metadata = sa.MetaData()

last_seen_table = sa.Table(
    "presence_last_seen",
    metadata,
    sa.Column("user_id", sa.String(255), primary_key=True),
    sa.Column("last_seen", sa.String(40), nullable=False),
)


class LastSeen:
    """Read and write last-seen times; ``database`` None keeps them in memory.

    A storm of disconnects writes thousands of times within a second: the writes
    go through one :class:`hub.WriteBatcher`, so those that come together share
    one transaction (and, on SQLite, one fsync and one turn of the hub's writer).
    """

    def __init__(self, database: Database | None) -> None:
        self.database = database
        self._memory: dict[str, str] = {}
        self._batcher = database.batched(_upsert, name="presence last-seen") if database is not None else None

    async def write(self, seen: Mapping[str, str]) -> None:
        """Record ``{user: RFC 3339 time}``; a later time never gets overwritten by an earlier one.

        Returns once the time is stored (in the batch of the writes issued about now).
        """
        if not seen:
            return
        if self._batcher is None:
            _merge(self._memory, seen)
            return
        await self._batcher.submit(dict(seen))

    async def read(self, users: Iterable[str]) -> dict[str, str]:
        """The stored time of each user that has one."""
        wanted = sorted(set(users))
        if not wanted:
            return {}
        if self.database is None:
            return {user: self._memory[user] for user in wanted if user in self._memory}
        async with self.database.read() as connection:
            result = await connection.execute(
                sa.select(last_seen_table.c.user_id, last_seen_table.c.last_seen).where(
                    last_seen_table.c.user_id.in_(wanted)
                )
            )
            return {row.user_id: row.last_seen for row in result}


def _merge(into: dict[str, str], seen: Mapping[str, str]) -> None:
    # The same format everywhere, so comparing the strings compares the times.
    for user, moment in seen.items():
        into[user] = max(moment, into.get(user, moment))


async def _upsert(connection: AsyncConnection, batch: list[dict[str, str]]) -> None:
    """Write a batch of ``{user: time}`` writes as one upsert, the latest time of each user."""
    merged: dict[str, str] = {}
    for seen in batch:
        _merge(merged, seen)
    rows = [{"user_id": user, "last_seen": moment} for user, moment in sorted(merged.items())]
    await connection.execute(_upsert_statement(connection.dialect.name), rows)


_UPSERTS: dict[str, Any] = {}


def _upsert_statement(dialect: str) -> Any:
    """The upsert, built once per dialect: building it (``excluded`` and its columns) cost more than running it."""
    statement = _UPSERTS.get(dialect)
    if statement is None:
        # The hub's stores are SQLite and PostgreSQL, which spell the upsert the same way.
        insert: Any = sqlite.insert if dialect == "sqlite" else postgresql.insert
        base = insert(last_seen_table)
        statement = _UPSERTS[dialect] = base.on_conflict_do_update(
            index_elements=[last_seen_table.c.user_id],
            set_={"last_seen": base.excluded.last_seen},
            where=last_seen_table.c.last_seen < base.excluded.last_seen,
        )
    return statement
