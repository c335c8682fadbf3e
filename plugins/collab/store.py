"""The plugin's tables and every statement on them: documents, stored updates, versions.

An update is a row of ``collab_updates`` numbered per document (``seq``
1, 2, 3, ... with no gaps): the append takes the next number by incrementing
``collab_documents.head`` in the same transaction, so on PostgreSQL two
processes appending to one document take turns on that row and commit in
number order. A process that has applied updates up to ``seq = n`` catches up
by reading the rows after ``n``. Compaction merges the rows up to some ``seq``
into ``collab_documents.snapshot`` and deletes them; the epoch stays.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import Conflict, Database, utc_timestamp

metadata = sa.MetaData()
documents = sa.Table(
    "collab_documents", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("epoch", sa.String(40), nullable=False),
    sa.Column("head", sa.BigInteger, nullable=False),
    sa.Column("snapshot", sa.LargeBinary, nullable=False),
    sa.Column("snapshot_upto", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)
updates = sa.Table(
    "collab_updates", metadata,
    sa.Column("document", sa.String(200), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("user_id", sa.String(255)),
)
versions = sa.Table(
    "collab_versions", metadata,
    sa.Column("document", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("state", sa.LargeBinary, nullable=False),
    sa.Column("created_by", sa.String(255)),
    sa.Column("created_at", sa.String(40), nullable=False),
)


def new_epoch() -> str:
    return secrets.token_hex(8)


@dataclass
class Stored:
    """What the database holds of one document past ``since``: enough to bring a replica up to date."""

    epoch: str
    head: int
    snapshot: bytes | None  # the compacted state, when the replica must apply it (else None)
    snapshot_upto: int
    rows: list[tuple[int, bytes]] = field(default_factory=list)


@dataclass
class Append:
    """One update to store; ``seq`` is set once written (``conflict`` when the epoch moved on)."""

    document: str
    data: bytes
    user: str | None
    epoch: str | None = None
    seq: int | None = None
    conflict: str | None = None


class Store:
    """Reads and writes the collab tables through the hub's database (one writer on SQLite)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        # Appends arriving together share a transaction (one fsync on SQLite for a burst of keystrokes).
        self.appender = database.batched(self._append, delay=0.002, name="collab-updates")

    async def _insert_document(self, connection: AsyncConnection, name: str) -> None:
        now = utc_timestamp()
        values = dict(name=name, epoch=new_epoch(), head=0, snapshot=b"", snapshot_upto=0,
                      created_at=now, updated_at=now)
        if self.database.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        await connection.execute(insert(documents).values(**values).on_conflict_do_nothing())

    async def ensure(self, name: str) -> None:
        """Create the document's row if it has none (a new document, epoch fresh)."""
        async with self.database.read() as connection:
            found = await connection.scalar(sa.select(documents.c.epoch).where(documents.c.name == name))
        if found is None:
            async with self.database.write() as connection:
                await self._insert_document(connection, name)

    async def exists(self, name: str) -> bool:
        async with self.database.read() as connection:
            return await connection.scalar(sa.select(documents.c.epoch).where(documents.c.name == name)) is not None

    async def read(self, name: str, since: int, epoch: str | None) -> Stored | None:
        """The stored document after update ``since`` of ``epoch`` (everything, if the epoch differs)."""
        async with self.database.read() as connection:
            row = (await connection.execute(
                sa.select(documents.c.epoch, documents.c.head, documents.c.snapshot_upto)
                .where(documents.c.name == name))).first()
            if row is None:
                return None
            if row.epoch != epoch:
                since = 0
            snapshot = None
            if row.snapshot_upto > since:
                snapshot = await connection.scalar(
                    sa.select(documents.c.snapshot).where(documents.c.name == name))
                since = row.snapshot_upto
            result = await connection.execute(
                sa.select(updates.c.seq, updates.c.data)
                .where(updates.c.document == name, updates.c.seq > since).order_by(updates.c.seq))
            rows = [(int(seq), bytes(data)) for seq, data in result]
        return Stored(row.epoch, int(row.head), bytes(snapshot) if snapshot is not None else None,
                      int(row.snapshot_upto), rows)

    async def append(self, item: Append) -> Append:
        """Store one update; returns once committed, with ``seq`` (or ``conflict``) set."""
        await self.appender.submit(item)
        return item

    async def _append(self, connection: AsyncConnection, items: list[Append]) -> None:
        for item in items:
            item.seq = item.conflict = None
            bump = (documents.update().values(head=documents.c.head + 1, updated_at=utc_timestamp())
                    .returning(documents.c.head))
            where = [documents.c.name == item.document]
            if item.epoch is not None:
                where.append(documents.c.epoch == item.epoch)
            row = (await connection.execute(bump.where(*where))).first()
            if row is None:
                current = await connection.scalar(
                    sa.select(documents.c.epoch).where(documents.c.name == item.document))
                if current is None:
                    await self._insert_document(connection, item.document)
                    current = await connection.scalar(
                        sa.select(documents.c.epoch).where(documents.c.name == item.document))
                if item.epoch is not None:
                    # The history was replaced since the client last synced: its state must not come back.
                    item.conflict = current
                    continue
                row = (await connection.execute(bump.where(*where))).first()
                assert row is not None
            item.seq = int(row.head)
            await connection.execute(updates.insert().values(
                document=item.document, seq=item.seq, data=item.data, user_id=item.user))

    async def compact(self, name: str, epoch: str, state: bytes, upto: int) -> bool:
        """Replace updates ``1..upto`` by ``state`` (which holds at least them); whether it was done."""
        async with self.database.write() as connection:
            done = await connection.execute(
                documents.update()
                .where(documents.c.name == name, documents.c.epoch == epoch, documents.c.snapshot_upto < upto)
                .values(snapshot=state, snapshot_upto=upto))
            if not done.rowcount:
                return False
            await connection.execute(updates.delete().where(updates.c.document == name, updates.c.seq <= upto))
        return True

    async def reset(self, name: str) -> str:
        """Replace the document's history by nothing: a new epoch, no updates, no versions."""
        epoch = new_epoch()
        async with self.database.write() as connection:
            await self._insert_document(connection, name)
            await connection.execute(documents.update().where(documents.c.name == name).values(
                epoch=epoch, snapshot=b"", snapshot_upto=documents.c.head, updated_at=utc_timestamp()))
            await connection.execute(updates.delete().where(updates.c.document == name))
            await connection.execute(versions.delete().where(versions.c.document == name))
        return epoch

    async def stored_bytes(self, name: str) -> tuple[int, int]:
        """``(bytes, rows)`` the document takes in the database: its snapshot and its pending updates."""
        async with self.database.read() as connection:
            snapshot = await connection.scalar(
                sa.select(sa.func.length(documents.c.snapshot)).where(documents.c.name == name)) or 0
            total, count = (await connection.execute(
                sa.select(sa.func.coalesce(sa.func.sum(sa.func.length(updates.c.data)), 0), sa.func.count())
                .where(updates.c.document == name))).one()
        return int(snapshot) + int(total), int(count)

    # Versions ----------------------------------------------------------------

    async def save_version(self, document: str, name: str, state: bytes, user: str | None, limit: int) -> str:
        created = utc_timestamp()
        async with self.database.write() as connection:
            exists = await connection.scalar(sa.select(versions.c.name).where(
                versions.c.document == document, versions.c.name == name))
            if exists is not None:
                raise Conflict(f"Document {document!r} already has a version {name!r}.")
            count = await connection.scalar(
                sa.select(sa.func.count()).select_from(versions).where(versions.c.document == document)) or 0
            if count >= limit:
                raise Conflict(f"Document {document!r} has {count} versions, the most it keeps: delete one first.")
            await connection.execute(versions.insert().values(
                document=document, name=name, state=state, created_by=user, created_at=created))
        return created

    async def list_versions(self, document: str) -> Sequence[dict[str, object]]:
        async with self.database.read() as connection:
            result = await connection.execute(
                sa.select(versions.c.name, versions.c.created_by, versions.c.created_at,
                          sa.func.length(versions.c.state).label("bytes"))
                .where(versions.c.document == document).order_by(versions.c.created_at, versions.c.name))
            return [{"name": row.name, "created_by": row.created_by, "created_at": row.created_at,
                     "bytes": int(row.bytes)} for row in result]

    async def version(self, document: str, name: str) -> bytes | None:
        async with self.database.read() as connection:
            state = await connection.scalar(sa.select(versions.c.state).where(
                versions.c.document == document, versions.c.name == name))
        return bytes(state) if state is not None else None

    async def delete_version(self, document: str, name: str) -> bool:
        async with self.database.write() as connection:
            done = await connection.execute(versions.delete().where(
                versions.c.document == document, versions.c.name == name))
        return bool(done.rowcount)
