"""The jobs table: each document's owner, file, status, and its place in the queue.

Every status change is a compare-and-set on ``version``, so two writers (two
workers, two hub processes, a worker and the lease sweeper) never both win: the
loser re-reads and re-checks. The same holds on SQLite and PostgreSQL; no lock
is held between statements.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from hub import Database, utc_timestamp

from .states import PROCESSING, QUEUED

metadata = sa.MetaData()

jobs = sa.Table(
    "doc_processing_jobs",
    metadata,
    sa.Column("document_id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("processor", sa.String(64), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("stage", sa.String(64), nullable=True),
    sa.Column("progress", sa.Float, nullable=False),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("result", sa.JSON, nullable=True),
    sa.Column("error", sa.JSON, nullable=True),
    sa.Column("file_path", sa.Text, nullable=True),
    sa.Column("filename", sa.String(500), nullable=True),
    sa.Column("content_type", sa.String(255), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("worker", sa.String(255), nullable=True),
    sa.Column("lease_until", sa.Float, nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

# What GET /api/documents/{id} shows (the file's path on the server stays private).
PUBLIC_COLUMNS = (
    "document_id", "owner", "processor", "state", "stage", "progress", "message", "result", "error", "filename",
    "content_type", "attempts", "worker", "lease_until", "created_at", "updated_at",
)
CLAIM_CANDIDATES = 8


def public(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in PUBLIC_COLUMNS}


class JobStore:
    """Reads and compare-and-set writes of ``doc_processing_jobs``; writes through the hub's one writer."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def create(self, row: dict[str, Any]) -> dict[str, Any]:
        now = utc_timestamp()
        values = {"attempts": 0, "version": 1, "worker": None, "lease_until": None, "created_at": now, "updated_at": now, **row}
        async with self.database.write() as connection:
            await connection.execute(jobs.insert().values(**values))
        return values

    async def get(self, document_id: str) -> dict[str, Any] | None:
        async with self.database.read() as connection:
            row = (await connection.execute(sa.select(jobs).where(jobs.c.document_id == document_id))).first()
        return dict(row._mapping) if row is not None else None

    async def list_for(self, owner: str, limit: int) -> list[dict[str, Any]]:
        query = sa.select(jobs).where(jobs.c.owner == owner).order_by(jobs.c.created_at.desc()).limit(limit)
        async with self.database.read() as connection:
            rows = (await connection.execute(query)).all()
        return [dict(row._mapping) for row in rows]

    async def change(self, row: dict[str, Any], values: dict[str, Any]) -> dict[str, Any] | None:
        """Write ``values`` if the row is still at ``row["version"]``; the new row, or None if someone else won."""
        new = {**values, "version": row["version"] + 1, "updated_at": utc_timestamp()}
        async with self.database.write() as connection:
            result = await connection.execute(
                jobs.update()
                .where(jobs.c.document_id == row["document_id"], jobs.c.version == row["version"])
                .values(**new)
            )
        return {**row, **new} if result.rowcount == 1 else None

    async def claim(self, worker: str, processors: Sequence[str], lease_seconds: float) -> dict[str, Any] | None:
        """Take the oldest queued job of one of ``processors`` for ``worker``: the row, or None.

        Candidates are read first (a read blocks nobody, so idle workers cost little);
        each is then taken with a compare-and-set that only one worker can win. A
        worker that lost every candidate reads again: None means the queue was empty.
        """
        if not processors:
            return None
        query = (
            sa.select(jobs)
            .where(jobs.c.state == QUEUED, jobs.c.processor.in_(list(processors)))
            .order_by(jobs.c.created_at, jobs.c.document_id)
            .limit(CLAIM_CANDIDATES)
        )
        while True:
            async with self.database.read() as connection:
                candidates = [dict(row._mapping) for row in (await connection.execute(query)).all()]
            if not candidates:
                return None
            # Among the oldest few, in random order: concurrent workers spread out instead of all
            # racing for the very oldest.
            random.shuffle(candidates)
            for row in candidates:
                claimed = await self.change(
                    row,
                    {"state": PROCESSING, "stage": "starting", "progress": 0.0,
                     "message": f"Attempt {row['attempts'] + 1}.", "worker": worker,
                     "lease_until": time.time() + lease_seconds, "attempts": row["attempts"] + 1},
                )
                if claimed is not None:
                    return claimed

    async def extend(self, document_id: str, worker: str, lease_seconds: float) -> bool:
        """Renew ``worker``'s lease (a heartbeat); False when the job is no longer that worker's."""
        async with self.database.write() as connection:
            result = await connection.execute(
                jobs.update()
                .where(jobs.c.document_id == document_id, jobs.c.state == PROCESSING, jobs.c.worker == worker)
                .values(lease_until=time.time() + lease_seconds)
            )
        return bool(result.rowcount == 1)

    async def expired(self, limit: int = 100) -> list[dict[str, Any]]:
        """Jobs being processed whose worker's lease ran out."""
        query = (
            sa.select(jobs)
            .where(jobs.c.state == PROCESSING, jobs.c.lease_until < time.time())
            .order_by(jobs.c.lease_until)
            .limit(limit)
        )
        async with self.database.read() as connection:
            return [dict(row._mapping) for row in (await connection.execute(query)).all()]
