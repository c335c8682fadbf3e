"""Secret calendar feed tokens: one per lawyer's resource and one per client, rotatable by their owner.

Only a token's SHA-256 is stored, so the table leaks no usable feed address;
rotating replaces the token in one transaction and the old address stops working.
"""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa

from hub import Database, utc_timestamp

from .tables import feeds

KINDS = ("resource", "client")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Feeds:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def rotate(self, kind: str, subject: str) -> str:
        """A new token for ``(kind, subject)``; the previous one no longer opens anything."""
        token = secrets.token_urlsafe(24)
        async with self.database.write() as connection:
            await connection.execute(feeds.delete().where(feeds.c.kind == kind, feeds.c.subject == subject))
            await connection.execute(
                feeds.insert().values(token_hash=digest(token), kind=kind, subject=subject, created_at=utc_timestamp())
            )
        return token

    async def lookup(self, token: str) -> tuple[str, str] | None:
        """``(kind, subject)`` of a token, or ``None``."""
        async with self.database.read() as connection:
            row = (await connection.execute(sa.select(feeds).where(feeds.c.token_hash == digest(token)))).first()
        return None if row is None else (row.kind, row.subject)
