"""A whole SQLite write in one trip to aiosqlite's thread (optimisation ``sqlite_one_trip``).

aiosqlite runs each call on its connection's own thread: a future, a hand-over
to the thread, and a wake-up of the event loop per statement. The event log's
append transaction is four statements, and on a busy loop each trip waits for
the loop's current turn to end, so a transaction of 50 events took 3–5 ms
while the loop was answering the publishers of the one before. :func:`run`
hands aiosqlite one function that runs them all on the thread, through the
queue aiosqlite's own calls use (``Connection._execute``) on the connection
they use (``Connection._conn``); :func:`check` looks for both at start-up,
and the event log writes statement by statement (public ``execute_fetchall``)
when they are gone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .checks import Missing, attribute, method, uses

NAME = "sqlite_one_trip"
T = TypeVar("T")


def check() -> None:
    """What :func:`run` relies on."""
    import aiosqlite

    connection = aiosqlite.Connection
    where = "aiosqlite.Connection"
    method(connection, "_execute", where, ("fn",), coroutine=True)
    uses(connection._execute, ["_tx", "put_nowait", "partial"], f"{where}._execute")
    conn = attribute(connection, "_conn", where)
    if not isinstance(conn, property):
        raise Missing(f"{where}._conn is no longer a property")
    uses(connection._execute_fetchall, ["_conn", "execute"], f"{where}._execute_fetchall")


async def run(driver: Any, function: Callable[[Any], T]) -> T:
    """``function(sqlite3_connection)`` on ``driver``'s thread (an ``aiosqlite.Connection``), in turn with its calls."""
    return await driver._execute(lambda: function(driver._conn))  # type: ignore[no-any-return]


__all__ = ["NAME", "check", "run"]
