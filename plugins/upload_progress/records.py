"""The uploads table: who owns each upload id, and each upload's latest (and final) state.

An id is claimed either by its owner's first subscription to ``upload:<id>``
(state ``pending``) or by the ``POST /api/uploads`` that uses it. The row then
moves to ``receiving``, ``storing`` and ends ``completed`` or ``failed``; the
topic's snapshot is this row.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hub import Database, utc_timestamp

PENDING, RECEIVING, STORING, COMPLETED, FAILED = "pending", "receiving", "storing", "completed", "failed"
FINAL_STATES = (COMPLETED, FAILED)

metadata = sa.MetaData()

uploads = sa.Table(
    "upload_progress_uploads",
    metadata,
    sa.Column("upload_id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("filename", sa.String(500), nullable=True),
    sa.Column("content_type", sa.String(255), nullable=True),
    sa.Column("bytes", sa.BigInteger, nullable=True),
    sa.Column("storage", sa.String(40), nullable=True),
    sa.Column("url", sa.Text, nullable=True),
    sa.Column("public_id", sa.String(500), nullable=True),
    sa.Column("error", sa.JSON, nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

# What a client sees of a row (the owner is known to it; timestamps are useful).
PUBLIC_COLUMNS = (
    "upload_id", "owner", "state", "filename", "content_type", "bytes", "storage", "url", "public_id", "error",
    "created_at", "updated_at",
)


class UploadRecords:
    """Reads and writes of the uploads table; writes through the hub's one writer (``hub.database``)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def get(self, upload_id: str) -> dict[str, Any] | None:
        async with self.database.read() as connection:
            row = (await connection.execute(sa.select(uploads).where(uploads.c.upload_id == upload_id))).first()
        return {name: row._mapping[name] for name in PUBLIC_COLUMNS} if row is not None else None

    async def owner_of_file(self, public_id: str) -> str | None:
        """The uploader of the completed upload stored as ``public_id``, or None."""
        query = sa.select(uploads.c.owner).where(uploads.c.public_id == public_id, uploads.c.state == COMPLETED)
        async with self.database.read() as connection:
            owner: str | None = (await connection.execute(query.limit(1))).scalar_one_or_none()
        return owner

    async def owner(self, upload_id: str) -> str | None:
        async with self.database.read() as connection:
            result = await connection.execute(sa.select(uploads.c.owner).where(uploads.c.upload_id == upload_id))
            owner: str | None = result.scalar_one_or_none()
        return owner

    async def claim_pending(self, upload_id: str, owner: str) -> str:
        """Claim an unused id for ``owner`` (state ``pending``); the id's owner afterwards, whoever won."""
        now = utc_timestamp()
        try:
            async with self.database.write() as connection:
                await connection.execute(
                    uploads.insert().values(upload_id=upload_id, owner=owner, state=PENDING, created_at=now, updated_at=now)
                )
            return owner
        except IntegrityError:
            existing = await self.owner(upload_id)
            return existing if existing is not None else owner

    async def start(self, upload_id: str, owner: str, filename: str | None) -> bool:
        """Mark ``upload_id`` as receiving for ``owner``: a new id, or one the owner claimed and never used.

        False when the id belongs to someone else or was already used.
        """
        now = utc_timestamp()
        async with self.database.write() as connection:
            result = await connection.execute(
                uploads.update()
                .where(uploads.c.upload_id == upload_id, uploads.c.owner == owner, uploads.c.state == PENDING)
                .values(state=RECEIVING, filename=filename, updated_at=now)
            )
            if result.rowcount == 1:
                return True
        try:
            async with self.database.write() as connection:
                await connection.execute(
                    uploads.insert().values(
                        upload_id=upload_id, owner=owner, state=RECEIVING, filename=filename, created_at=now, updated_at=now
                    )
                )
            return True
        except IntegrityError:
            return False

    async def update(self, upload_id: str, **values: Any) -> None:
        async with self.database.write() as connection:
            await connection.execute(
                uploads.update().where(uploads.c.upload_id == upload_id).values(updated_at=utc_timestamp(), **values)
            )
