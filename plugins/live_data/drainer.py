"""The outbox drainer: turns the rows the triggers wrote into changes of their collections.

One drainer at a time across processes: the holder of the lease row
``live_data_leases['outbox']`` (in the hub's database) drains; it renews the
lease while it works, and a process that dies lets it expire, so another takes
over. On PostgreSQL the drainer listens for ``NOTIFY live_data_outbox`` and
drains at once; it also looks every ``poll_interval`` on SQLite (and, as a
safety net, every few seconds on PostgreSQL). On start it drains whatever was
committed while no hub ran. Each row becomes a change with the event id
``outbox.<table>.<row id>``, so a row delivered twice (the drainer died between
publishing and marking it) is stored and delivered once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import sqlalchemy as sa

from hub import Hub, decode_json

from . import outbox
from .changes import Change
from .config import Collection
from .service import LiveData
from .store import leases
from .triggers import CHANNEL

log = logging.getLogger("hub.live_data")
BATCH = 500
LEASE = "outbox"


class Drainer:
    """Drains the outbox of ``source_url`` into the watched collections, while this process holds the lease."""

    def __init__(self, hub: Hub, service: LiveData, watched: Sequence[Collection]) -> None:
        self.hub = hub
        self.service = service
        self.settings = service.config.settings
        self.by_table = {collection.table: collection for collection in watched if collection.table}
        self.holder = f"{socket.gethostname()}-{secrets.token_hex(4)}"
        self.wake = asyncio.Event()
        self.holding = False
        self.drained = 0
        self._engine: Any = None
        self._listener: Any = None
        self._last_prune = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        url = self.settings.source_url
        if _same(url, self.hub.database.url):
            self._engine = None  # the hub's own database: write through its writer
        else:
            from sqlalchemy.ext.asyncio import create_async_engine

            self._engine = create_async_engine(url, connect_args={"timeout": 10} if url.startswith("sqlite") else {})
        self._task = self.hub.start_task(self.run(), name="live_data outbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
        if self._engine is not None:
            await self._engine.dispose()
        with contextlib.suppress(Exception):
            await self._release()

    @property
    def dialect(self) -> str:
        return (self._engine or self.hub.database.engine).dialect.name

    def _read(self) -> Any:
        return self._engine.connect() if self._engine is not None else self.hub.database.read()

    def _write(self) -> Any:
        return self._engine.begin() if self._engine is not None else self.hub.database.write()

    async def run(self) -> None:
        while True:
            try:
                self.holding = await self._lease()
                if self.holding:
                    if self.dialect == "postgresql" and self._listener is None:
                        await self._listen()
                    if await self.drain_once() >= BATCH:
                        continue
                    await self._prune()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live_data: the outbox drainer failed; trying again")
                self.holding = False
            await self._sleep()

    async def _sleep(self) -> None:
        if not self.holding:
            timeout = self.settings.lease_seconds / 3
        elif self.dialect == "postgresql":
            timeout = min(self.settings.lease_seconds / 3, max(self.settings.poll_interval, 2.0))
        else:
            timeout = min(self.settings.poll_interval, self.settings.lease_seconds / 3)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout)
        self.wake.clear()

    async def _listen(self) -> None:
        import asyncpg

        url = sa.engine.make_url(self.settings.source_url).set(drivername="postgresql")
        self._listener = await asyncpg.connect(url.render_as_string(hide_password=False))
        await self._listener.add_listener(CHANNEL, lambda *_: self.wake.set())

    async def drain_once(self) -> int:
        """Deliver up to one batch of pending rows, in outbox order; how many rows."""
        async with self._read() as connection:
            rows = await outbox.pending(connection, list(self.by_table), BATCH)
        if not rows:
            return 0
        groups: dict[str, list[Change]] = {}
        for row in rows:
            collection = self.by_table[row.table]
            event_id = f"outbox.{row.table}.{row.id}"
            if row.op == "DELETE":
                change = Change("delete", row.key, None, event_id, remember=False)
            else:
                change = Change("upsert", row.key, decode_json(row.data or "{}"), event_id, remember=False)
            groups.setdefault(collection.name, []).append(change)
        for name, changes in groups.items():
            for result in await self.service.write(name, changes):
                if "error" in result:
                    log.error("live_data: outbox row for %s key %s not delivered: %s", name, result["key"], result["error"])
        async with self._write() as connection:
            await outbox.mark_delivered(connection, [row.id for row in rows])
        self.drained += len(rows)
        return len(rows)

    async def _prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune < min(60.0, max(self.settings.prune_after, 1.0)):
            return
        self._last_prune = now
        async with self._write() as connection:
            pruned = await outbox.prune(connection, self.settings.prune_after)
        if pruned:
            log.info("live_data: pruned %d delivered outbox rows", pruned)

    async def _lease(self) -> bool:
        now = time.time()
        expires = now + self.settings.lease_seconds
        try:
            async with self.hub.database.write() as connection:
                taken = await connection.execute(
                    leases.update()
                    .where(leases.c.name == LEASE, sa.or_(leases.c.holder == self.holder, leases.c.expires_at < now))
                    .values(holder=self.holder, expires_at=expires)
                )
                if taken.rowcount:
                    return True
                exists = await connection.scalar(sa.select(leases.c.name).where(leases.c.name == LEASE))
                if exists is None:
                    await connection.execute(leases.insert().values(name=LEASE, holder=self.holder, expires_at=expires))
                    return True
        except sa.exc.IntegrityError:
            return False  # another process inserted the lease first
        return False

    async def _release(self) -> None:
        async with self.hub.database.write() as connection:
            await connection.execute(
                leases.update().where(leases.c.name == LEASE, leases.c.holder == self.holder).values(expires_at=0.0)
            )


def _same(left: str, right: str) -> bool:
    return sa.engine.make_url(left) == sa.engine.make_url(right)
