"""The offline-queue reads on SQLite: one kept connection, one trip to the driver's thread per read.

Every connect reads the user's offline queue. Through SQLAlchemy's async
layer a read on aiosqlite was about six trips between the event loop and the
driver's thread (the pool's checkout, the cursor, ``execute``, ``fetchall``,
the cursor's close, the rollback when the connection went back to the pool),
each a future, a wake-up of the loop and a switch of threads, on a hub pinned
to one core: with the JSON of the rows, the read cost a connect more than the
token check and the welcome together.

:class:`SqliteReads` keeps one connection of the engine's pool for these reads
and runs each as one ``execute_fetchall`` of aiosqlite (its public API), the
statement and the fetching done in one trip. SQLite's driver opens no
transaction for a ``SELECT`` (Python's ``sqlite3`` begins one only before a
write), so nothing holds an old snapshot between reads: each sees every commit
before it, as a fresh connection would. A read that fails drops the
connection; the next takes a new one from the pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ..database import Database


class SqliteReads:
    """Reads on one kept connection of ``database`` (SQLite through aiosqlite)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._connection: Any = None  # the SQLAlchemy AsyncConnection kept out of the pool
        self._driver: Any = None  # its aiosqlite connection
        self._opening = asyncio.Lock()

    async def fetch(self, statement: str, parameters: Sequence[Any]) -> list[Any]:
        """The rows of ``statement`` (driver rows: plain tuples).

        A kept connection that fails is dropped and the read tried once more on a
        new one (the kept one may have broken since its last read); a new one that
        fails raises.
        """
        kept = self._driver is not None
        try:
            return await self._fetch(statement, parameters)
        except Exception:
            if not kept:
                raise
        return await self._fetch(statement, parameters)

    async def _fetch(self, statement: str, parameters: Sequence[Any]) -> list[Any]:
        driver = self._driver or await self._open()
        try:
            return list(await driver.execute_fetchall(statement, parameters))
        except BaseException:
            await self.close(broken=True)
            raise

    async def _open(self) -> Any:
        async with self._opening:
            if self._driver is None:
                connection = await self.database.engine.connect()
                try:
                    raw = await connection.get_raw_connection()
                    self._driver = raw.driver_connection
                except BaseException:
                    await connection.close()
                    raise
                self._connection = connection
            return self._driver

    async def close(self, broken: bool = False) -> None:
        """Give the connection back to the pool (before the engine is disposed of); ``broken``: discard it."""
        connection, self._connection, self._driver = self._connection, None, None
        if connection is None:
            return
        try:
            if broken:
                await connection.invalidate()  # the pool makes a new one rather than hand it out again
            await connection.close()
        except Exception:  # noqa: S110  closing what broke may fail too; the pool has let it go
            pass


__all__ = ["SqliteReads"]
