"""Alembic environment of the hub.

The hub runs the migrations itself (``hub db upgrade``, or on a new SQLite
file) and hands its connection over in ``config.attributes["connection"]``.
Run by the ``alembic`` command instead, it opens an async engine on the
``sqlalchemy.url`` option or ``HUB_DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

# No autogenerate target: each revision spells out its own operations, so an
# old revision never changes meaning when hub/db.py moves on.
target_metadata = None


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters tables only by copying them; batch mode does that.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_with_url(url: str) -> None:
    from hub.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_on)
    finally:
        await engine.dispose()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    if context.is_offline_mode():
        raise SystemExit("the hub's migrations run online only (hub db upgrade)")
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get("HUB_DATABASE_URL")
    if not url:
        raise SystemExit("set HUB_DATABASE_URL (or sqlalchemy.url) to the database to migrate")
    asyncio.run(run_with_url(url))


main()
