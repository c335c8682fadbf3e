"""The SQLite event log's append transaction in one trip to aiosqlite's thread (``sqlite_one_trip``).

The same appends (new events, inbox events, an id repeated within a batch and
one already stored, an event that cannot be encoded) give the same results and
leave the same rows whether the transaction runs whole on aiosqlite's thread
or statement by statement (the path taken when the check of aiosqlite's
internals fails).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from hub._compat import checks
from hub._compat import sqlite as compat_sqlite
from hub.envelope import Envelope
from hub.eventlog import open_event_log
from hub.eventlog.sql import SqlEventLog


def event(topic: str, n: int, id: str | None = None) -> Envelope:
    return Envelope.build(topic, "test.event", {"n": n}, id=id)


async def appends(log: SqlEventLog) -> list[Any]:
    first = await asyncio.gather(
        *(log.append(event(f"user:u{n % 3}", n), inbox_user=f"u{n % 3}") for n in range(10)),
        log.append(event("chat:room", 1, id="key-1")),
        log.append(event("chat:room", 2, id="key-1")),
        log.append(event("chat:room", 3, id="key-2")),
    )
    again = await asyncio.gather(log.append(event("chat:room", 4, id="key-1")), log.append(event("chat:room", 5)))
    return [(a.created, a.envelope.topic, a.envelope.seq, a.envelope.data) for a in [*first, *again]]


def rows(path: Path) -> list[Any]:
    with sqlite3.connect(path) as connection:
        return [
            connection.execute("SELECT topic, seq, type, data, meta FROM hub_events ORDER BY topic, seq").fetchall(),
            connection.execute("SELECT user_id, topic, seq FROM hub_inbox ORDER BY user_id, topic, seq").fetchall(),
            connection.execute("SELECT topic, latest_seq FROM hub_topic_seqs ORDER BY topic").fetchall(),
        ]


@pytest.mark.parametrize("one_trip", [True, False])
async def test_one_trip_and_statement_by_statement_store_the_same(tmp_path: Path, one_trip: bool) -> None:
    path = tmp_path / "hub.db"
    log = open_event_log(f"sqlite+aiosqlite:///{path}")
    assert isinstance(log, SqlEventLog)
    await log.start()
    assert log._one_trip  # on with the tested aiosqlite
    log._one_trip = one_trip
    try:
        results = await appends(log)
        bad = Envelope(type="test.event", topic="chat:room", data={"not json": {1, 2}})
        refused = await asyncio.gather(log.append(bad), log.append(event("chat:room", 6)), return_exceptions=True)
    finally:
        await log.close()
    assert isinstance(refused[0], Exception) and not isinstance(refused[1], BaseException)
    assert refused[1].envelope.seq == 4
    assert [r[0] for r in results] == [True] * 11 + [False, True, False, True]
    assert [r[2] for r in results[10:]] == [1, 1, 2, 1, 3]
    stored = rows(path)
    assert len(stored[0]) == 14 and len(stored[1]) == 10
    assert stored[2] == [("chat:room", 4), ("user:u0", 4), ("user:u1", 3), ("user:u2", 3)]


def test_the_check_passes_with_the_tested_aiosqlite() -> None:
    assert checks.run(compat_sqlite.check) == checks.ON
