"""The table ``notifications_items``: one row per notification and user, with its read state.

It mirrors ``migrations/notifications_0001_items.py``; the migration creates it.
Every statement here runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hub import Database

from .validation import Draft

metadata = sa.MetaData()

items = sa.Table(
    "notifications_items",
    metadata,
    sa.Column("n", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(128), nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("title", sa.String(500), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("read_at", sa.String(40), nullable=True),
    sa.UniqueConstraint("user_id", "id", name="uq_notifications_items_user_id"),
)

CHUNK = 1000  # rows per executemany, users per IN (...): well under bind-parameter limits


@dataclass(frozen=True)
class Stored:
    """One user's copy of a notification as stored."""

    user: str
    id: str
    title: str
    body: str
    data: dict[str, Any]
    created_at: str
    read_at: str | None

    def to_dict(self) -> dict[str, Any]:
        """The wire form, in ``notification.created`` and in ``GET /api/notifications``."""
        return {
            "id": self.id, "title": self.title, "body": self.body, "data": self.data,
            "created_at": self.created_at, "read": self.read_at is not None, "read_at": self.read_at,
        }


def _stored(row: Any) -> Stored:
    return Stored(row.user_id, row.id, row.title, row.body, row.data or {}, row.created_at, row.read_at)


def _insert_ignoring_duplicates(dialect: str) -> Any:
    """``INSERT ... ON CONFLICT (user_id, id) DO NOTHING`` in the engine's dialect."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(items).on_conflict_do_nothing(index_elements=["user_id", "id"])
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(items).on_conflict_do_nothing(index_elements=["user_id", "id"])
    return sa.insert(items)


class NotificationStore:
    """Reads and writes ``notifications_items``; writes through the hub's one writer (``hub.database``)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def add(self, draft: Draft, created_at: str) -> tuple[list[Stored], int]:
        """Store one row per user, in one transaction; ``(each user's row, how many are new)``.

        A user who already has this id keeps the row stored first (a retry lands once).
        """
        rows: list[Stored] = []
        created = 0
        insert = _insert_ignoring_duplicates(self.database.dialect)
        async with self.database.write() as connection:
            for start in range(0, len(draft.users), CHUNK):
                chunk = draft.users[start:start + CHUNK]
                existing: dict[str, Stored] = {}
                if draft.id_given:  # a generated id is new everywhere: no need to look
                    result = await connection.execute(
                        sa.select(items).where(items.c.id == draft.id, items.c.user_id.in_(chunk))
                    )
                    existing = {row.user_id: _stored(row) for row in result}
                fresh = [
                    Stored(user, draft.id, draft.title, draft.body, draft.data, created_at, None)
                    for user in chunk if user not in existing
                ]
                if fresh:
                    await connection.execute(insert, [
                        {"id": row.id, "user_id": row.user, "title": row.title, "body": row.body,
                         "data": row.data, "created_at": row.created_at, "read_at": None}
                        for row in fresh
                    ])
                created += len(fresh)
                rows.extend(existing.get(user) or Stored(
                    user, draft.id, draft.title, draft.body, draft.data, created_at, None
                ) for user in chunk)
        return rows, created

    async def page(
        self, user: str, unread_only: bool, before: int | None, limit: int
    ) -> tuple[list[Stored], int | None, int]:
        """A user's notifications, newest first: ``(items, next cursor or None, unread count)``."""
        query = sa.select(items).where(items.c.user_id == user)
        if unread_only:
            query = query.where(items.c.read_at.is_(None))
        if before is not None:
            query = query.where(items.c.n < before)
        query = query.order_by(items.c.n.desc()).limit(limit + 1)
        async with self.database.read() as connection:
            rows = list(await connection.execute(query))
            unread = await self._unread(connection, user)
        next_cursor = rows[limit - 1].n if len(rows) > limit else None
        return [_stored(row) for row in rows[:limit]], next_cursor, unread

    async def mark_read(self, user: str, ids: Sequence[str] | None, read_at: str) -> tuple[list[str], int, int]:
        """Mark ``ids`` (or every unread one, for ``None``) read: ``(ids changed, count changed, unread left)``.

        For ``ids=None`` the list of changed ids is empty (it may be long); the count says how many.
        """
        mine_unread = sa.and_(items.c.user_id == user, items.c.read_at.is_(None))
        changed: list[str] = []
        async with self.database.write() as connection:
            if ids is None:
                result = await connection.execute(sa.update(items).where(mine_unread).values(read_at=read_at))
                count = int(result.rowcount)
            else:
                found = await connection.execute(
                    sa.select(items.c.id).where(mine_unread, items.c.id.in_(list(ids)))
                )
                changed = [row.id for row in found]
                if changed:
                    await connection.execute(
                        sa.update(items).where(mine_unread, items.c.id.in_(changed)).values(read_at=read_at)
                    )
                count = len(changed)
            unread = await self._unread(connection, user)
        return changed, count, unread

    async def unread_count(self, user: str) -> int:
        async with self.database.read() as connection:
            return await self._unread(connection, user)

    async def purge(self, read_before: str | None, unread_before: str | None) -> int:
        """Delete read notifications created before ``read_before``, and unread ones before ``unread_before``."""
        deleted = 0
        async with self.database.write() as connection:
            if read_before is not None:
                result = await connection.execute(
                    sa.delete(items).where(items.c.read_at.is_not(None), items.c.created_at < read_before)
                )
                deleted += int(result.rowcount)
            if unread_before is not None:
                result = await connection.execute(
                    sa.delete(items).where(items.c.read_at.is_(None), items.c.created_at < unread_before)
                )
                deleted += int(result.rowcount)
        return deleted

    @staticmethod
    async def _unread(connection: Any, user: str) -> int:
        result = await connection.execute(
            sa.select(sa.func.count()).select_from(items).where(items.c.user_id == user, items.c.read_at.is_(None))
        )
        return int(result.scalar_one())
