"""hub.database: one writer on SQLite (FIFO, never waiting on SQLite's lock), concurrent writes on PostgreSQL.

The database under test is the event log's own (``SqlEventLog.database``, which
a hub exposes as ``hub.database``), on a real SQLite file or a fresh PostgreSQL
database; "the plugin" is the test plugin ``tests/support/hub_writer_probe.py``,
whose table is written beside the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub import Database, db
from hub.envelope import Envelope
from hub.eventlog.sql import SqlEventLog
from hub.plugin_schema import plugin_branches
from hub.plugins import load_plugins
from hub.topics import Retention
from tests.support.hub_writer_probe import connects as items  # the test plugin's own table
from tests.support.hub_writer_probe import metadata

@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    return str(request.getfixturevalue("postgres_database"))  # migrated by `hub db upgrade`


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"


async def open_log(url: str, busy_wait: bool = True) -> SqlEventLog:
    """A started event log whose database also holds the plugin's table.

    ``busy_wait=False`` sets SQLite's busy timeout to 0: a write that meets
    SQLite's lock fails at once with "database is locked" instead of waiting.
    """
    # The installed plugins' branches: `hub db upgrade` (the postgres fixture) stamped theirs too.
    log = SqlEventLog(url, plugin_branches(load_plugins(None)))
    await log.start()
    await log.database.run_write(lambda connection: connection.run_sync(metadata.create_all))
    if not busy_wait:
        sa.event.listen(log.engine.sync_engine, "connect", _no_busy_wait)
        await log.database.release_writer()
        await log.engine.dispose()  # every connection from now on is made with it
    return log


def _no_busy_wait(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.close()


@pytest.fixture
async def log(store_url: str) -> AsyncIterator[SqlEventLog]:
    event_log = await open_log(store_url)
    yield event_log
    await event_log.close()


def event(topic: str, n: int) -> Envelope:
    return Envelope.build(topic, "test.event", {"n": n})


async def plugin_write(database: Database, key: str, entered: list[str]) -> None:
    """A plugin's transaction of two statements that yields to the loop between them."""
    async with database.write() as connection:
        entered.append(key)
        await connection.execute(items.insert().values(connection_id=key, user_id="new"))
        await asyncio.sleep(0)
        await connection.execute(items.update().where(items.c.connection_id == key).values(user_id="done"))


async def stored_keys(database: Database) -> list[str]:
    async with database.read() as connection:
        rows = await connection.execute(sa.select(items.c.connection_id).order_by(items.c.n))
        return [row.connection_id for row in rows]


async def test_sqlite_writes_of_the_log_and_a_plugin_take_one_writer_in_order(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    log = await open_log(sqlite_url, busy_wait=False)
    database = log.database
    try:
        entered: list[str] = []
        keys = [f"k{n:03}" for n in range(300)]
        batcher = database.batched(_insert_keys, name="test batch")
        tasks = []
        for n, key in enumerate(keys):
            # Interleaved: appends to shared and own topics with inboxes, plugin transactions,
            # batched writes, and the log's other writes (ack, trim).
            tasks.append(log.append(event("chat:busy", n)))
            tasks.append(log.append(event(f"user:u{n % 50}", n), inbox_user=f"u{n % 50}"))
            tasks.append(plugin_write(database, key, entered))
            tasks.append(batcher.submit(f"b{n:03}"))
            if n % 50 == 0:
                tasks.append(log.ack(f"u{n % 50}", ["no-such-id"]))
                tasks.append(log.trim("chat:", Retention(max_count=1000)))
        results = await asyncio.gather(*tasks, return_exceptions=True)
        failures = [result for result in results if isinstance(result, BaseException)]
        assert failures == []
        assert "database is locked" not in caplog.text
        # FIFO: the plugin's transactions ran, and committed, in the order they were asked for.
        assert entered == keys
        stored = await stored_keys(database)
        assert [key for key in stored if key.startswith("k")] == keys
        assert sorted(key for key in stored if key.startswith("b")) == [f"b{n:03}" for n in range(300)]
        backlog = await log.backlog("chat:busy", 0)
        assert [e.data["n"] for e in backlog.events] == list(range(300))  # numbered in append order
        assert sum([len(await log.pending(f"u{u}")) for u in range(50)]) == 300
    finally:
        await log.close()


async def _insert_keys(connection: Any, keys: list[str | None]) -> None:
    await connection.execute(items.insert(), [{"connection_id": key, "user_id": "batched"} for key in keys])


async def test_without_the_writer_the_same_sqlite_load_meets_the_lock(sqlite_url: str) -> None:
    """The control of the test above: transactions opened beside the writer do meet SQLite's lock."""
    log = await open_log(sqlite_url, busy_wait=False)
    try:
        async def own_transaction(key: str) -> None:
            async with log.engine.begin() as connection:
                await connection.execute(items.insert().values(connection_id=key, user_id="new"))
                await asyncio.sleep(0.01)

        results = await asyncio.gather(*(own_transaction(f"k{n}") for n in range(20)), return_exceptions=True)
        assert any("database is locked" in str(result) for result in results), results
    finally:
        await log.close()


async def test_two_write_transactions_overlap_on_postgresql_and_take_turns_on_sqlite(log: SqlEventLog) -> None:
    database = log.database
    steps: list[str] = []
    second_entered = asyncio.Event()

    async def first() -> None:
        async with database.write() as connection:
            await connection.execute(items.insert().values(connection_id="first", user_id="new"))
            steps.append("first in")
            try:
                await asyncio.wait_for(second_entered.wait(), 2.0)
                steps.append("saw second")
            except TimeoutError:
                steps.append("alone")
        steps.append("first out")

    async def second() -> None:
        await asyncio.sleep(0.05)
        async with database.write() as connection:
            steps.append("second in")
            second_entered.set()
            await connection.execute(items.insert().values(connection_id="second", user_id="new"))

    await asyncio.gather(first(), second())
    if database.single_writer:
        assert database.dialect == "sqlite"
        assert steps == ["first in", "alone", "first out", "second in"]
    else:
        assert database.dialect == "postgresql"
        assert steps == ["first in", "second in", "saw second", "first out"]
    assert sorted(await stored_keys(database)) == ["first", "second"]


async def test_a_failed_write_rolls_back_and_frees_the_writer(log: SqlEventLog) -> None:
    with pytest.raises(ValueError):
        async with log.database.write() as connection:
            await connection.execute(items.insert().values(connection_id="lost", user_id="new"))
            raise ValueError("the plugin changed its mind")
    insert = items.insert().values(connection_id="kept", user_id="new").returning(items.c.n)
    n = await log.database.run_write(lambda connection: connection.scalar(insert))
    assert n is not None
    assert await stored_keys(log.database) == ["kept"]
    assert log.database.waiting_writes == 0


async def test_a_write_inside_a_write_raises_on_sqlite_instead_of_waiting_for_itself(sqlite_url: str) -> None:
    log = await open_log(sqlite_url)
    batcher = log.database.batched(_insert_keys)
    try:
        async with log.database.write():
            assert log.database.holds_writer()
            for attempt in (log.database.run_write(_noop), log.append(event("chat:x", 1)), batcher.submit("x")):
                # asyncio.timeout, not wait_for: the attempt must run in this task, the writer's holder.
                with pytest.raises(RuntimeError, match="inside a write transaction"):
                    async with asyncio.timeout(1.0):
                        await attempt
        assert not log.database.holds_writer()
        assert (await log.append(event("chat:x", 2))).envelope.seq == 1
    finally:
        await log.close()


async def _noop(connection: Any) -> None:
    return None


async def test_batched_writes_share_transactions_and_a_bad_item_fails_alone(log: SqlEventLog) -> None:
    commits = 0

    def count(_connection: object) -> None:
        nonlocal commits
        commits += 1

    sa.event.listen(log.engine.sync_engine, "commit", count)
    batcher = log.database.batched(_insert_keys, delay=0.005)
    keys: list[str | None] = [f"b{n:03}" for n in range(500)]
    keys[250] = None  # violates NOT NULL: this caller's write fails, no one else's
    results = await asyncio.gather(*(batcher.submit(key) for key in keys), return_exceptions=True)
    assert [n for n, result in enumerate(results) if isinstance(result, BaseException)] == [250]
    assert isinstance(results[250], sa.exc.IntegrityError)
    assert sorted(await stored_keys(log.database)) == [key for key in keys if key is not None]
    # One transaction for the 500, then one per item when the batch with the bad one was retried alone.
    assert commits <= 1 + 500, commits
    commits = 0
    await asyncio.gather(*(batcher.submit(f"c{n:03}") for n in range(500)))
    assert commits <= 3, commits


async def test_a_batched_write_is_stored_even_when_its_caller_stops_waiting(log: SqlEventLog) -> None:
    batcher = log.database.batched(_insert_keys, delay=0.05)
    caller = asyncio.ensure_future(batcher.submit("abandoned"))
    await asyncio.sleep(0.01)
    caller.cancel()
    await batcher.close()
    assert await stored_keys(log.database) == ["abandoned"]


async def test_database_before_it_is_opened_says_so(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    with pytest.raises(RuntimeError, match="not started"):
        database.read()
    database.open(db.create_engine(sqlite_url))
    try:
        async with database.read() as connection:
            assert await connection.scalar(sa.text("SELECT 1")) == 1
    finally:
        await database.close()


async def test_sqlite_writes_keep_one_connection_and_a_failed_one_does_not_spoil_it(sqlite_url: str) -> None:
    log = await open_log(sqlite_url)
    checkouts = 0

    def count(*_args: object) -> None:
        nonlocal checkouts
        checkouts += 1

    try:
        sa.event.listen(log.engine.sync_engine, "checkout", count)
        for n in range(20):
            async with log.database.write() as connection:
                await connection.execute(items.insert().values(connection_id=f"w{n}", user_id="kept"))
        with pytest.raises(sa.exc.IntegrityError):
            async with log.database.write() as connection:
                await connection.execute(items.insert().values(connection_id=None, user_id="null"))
        async with log.database.write() as connection:
            await connection.execute(items.insert().values(connection_id="after", user_id="kept"))
        assert checkouts <= 1, checkouts
        assert await stored_keys(log.database) == [f"w{n}" for n in range(20)] + ["after"]
    finally:
        await log.close()
