"""A test plugin that writes to a table of its own on every connection, through ``hub.database``.

With ``WRITER_PROBE_NO_BUSY_WAIT=1`` it also sets SQLite's busy timeout to 0 on
the hub's connections: a write that meets SQLite's lock then fails at once with
"database is locked" instead of waiting, so a test sees any write of the hub
(core or plugin) that did not go through the one writer.
"""

from __future__ import annotations

import os

import sqlalchemy as sa

from hub import hookimpl

metadata = sa.MetaData()
connects = sa.Table(
    "writer_probe_connects",
    metadata,
    sa.Column("n", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection_id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False),
)


def _no_busy_wait(dbapi_connection, _record, _proxy):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.close()


if os.environ.get("WRITER_PROBE_NO_BUSY_WAIT") == "1":
    # On every checkout, so after the hub's own pragmas (set on connect); registered on the
    # class at import, before the hub's engine exists, since adding a listener to a pool
    # while it connects is not safe.
    sa.event.listen(sa.pool.Pool, "checkout", _no_busy_wait)


@hookimpl
async def hub_startup(hub):
    await hub.database.run_write(lambda connection: connection.run_sync(metadata.create_all))


@hookimpl
async def hub_connect(hub, connection):
    async with hub.database.write() as db:
        await db.execute(connects.insert().values(connection_id=connection.id, user_id=connection.user))
