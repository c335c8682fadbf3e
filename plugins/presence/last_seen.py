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

metadata = sa.MetaData()

last_seen_table = sa.Table(
    "presence_last_seen",
    metadata,
    sa.Column("user_id", sa.String(255), primary_key=True),
    sa.Column("last_seen", sa.String(40), nullable=False),
)


class LastSeen:
    """Read and write last-seen times; ``engine`` None keeps them in memory."""

    def __init__(self, engine: Any | None) -> None:
        self.engine = engine
        self._memory: dict[str, str] = {}

    async def write(self, seen: Mapping[str, str]) -> None:
        """Record ``{user: RFC 3339 time}``; a later time never gets overwritten by an earlier one."""
        if not seen:
            return
        if self.engine is None:
            for user, moment in seen.items():
                self._memory[user] = max(moment, self._memory.get(user, moment))
            return
        rows = [{"user_id": user, "last_seen": moment} for user, moment in sorted(seen.items())]
        async with self.engine.begin() as connection:
            dialect = connection.dialect.name
            if dialect in ("sqlite", "postgresql"):
                from sqlalchemy.dialects import postgresql, sqlite

                # Both dialects spell the upsert the same way.
                insert: Any = sqlite.insert if dialect == "sqlite" else postgresql.insert
                statement = insert(last_seen_table)
                # The same format everywhere, so comparing the strings compares the times.
                await connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=[last_seen_table.c.user_id],
                        set_={"last_seen": statement.excluded.last_seen},
                        where=last_seen_table.c.last_seen < statement.excluded.last_seen,
                    ),
                    rows,
                )
                return
            for row in rows:  # any other SQL database: update, then insert what was missing
                result = await connection.execute(
                    last_seen_table.update()
                    .where(last_seen_table.c.user_id == row["user_id"])
                    .values(last_seen=row["last_seen"])
                )
                if result.rowcount == 0:
                    await connection.execute(last_seen_table.insert().values(**row))

    async def read(self, users: Iterable[str]) -> dict[str, str]:
        """The stored time of each user that has one."""
        wanted = sorted(set(users))
        if not wanted:
            return {}
        if self.engine is None:
            return {user: self._memory[user] for user in wanted if user in self._memory}
        async with self.engine.connect() as connection:
            result = await connection.execute(
                sa.select(last_seen_table.c.user_id, last_seen_table.c.last_seen).where(
                    last_seen_table.c.user_id.in_(wanted)
                )
            )
            return {row.user_id: row.last_seen for row in result}
