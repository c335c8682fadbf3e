"""The SQL event log on its own: numbering, idempotency, inboxes, retention, schema checks.

Every test runs on a real SQLite file and on PostgreSQL (skipped when the
server is unreachable: see tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from hub import db
from hub.envelope import Envelope
from hub.eventlog import open_event_log
from hub.eventlog.base import EventQuery, ReplayRecord, page_cursor
from hub.eventlog.sql import SqlEventLog
from hub.topics import Retention

T = TypeVar("T")


def run_apart(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on a loop of its own in a thread, away from the test's loop."""

    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


async def admin(url: str, *statements: str) -> None:
    import asyncpg

    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def postgres_module_database(postgres_available: str) -> Iterator[str]:
    """A PostgreSQL database for this module's tests (conftest skips when there is no server)."""
    name = f"hub_test_{secrets.token_hex(6)}"
    run_apart(lambda: admin(postgres_available, f'CREATE DATABASE "{name}"'))
    yield sa.make_url(postgres_available).set(database=name).render_as_string(hide_password=False)
    run_apart(lambda: admin(postgres_available, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a new SQLite file, or the module's PostgreSQL database with every table dropped."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    url: str = request.getfixturevalue("postgres_module_database")
    run_apart(lambda: admin(url, "DROP SCHEMA public CASCADE", "CREATE SCHEMA public"))
    return url


async def table_names(url: str) -> list[str]:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as connection:
            names: Any = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
            return sorted(names)
    finally:
        await engine.dispose()


async def started(url: str) -> SqlEventLog:
    if url.startswith("postgresql"):
        await db.upgrade_url(url)  # a server is migrated by the operator, not by start()
    log = open_event_log(url)
    assert isinstance(log, SqlEventLog)
    await log.start()
    return log


@pytest.fixture
async def log(database_url: str) -> AsyncIterator[SqlEventLog]:
    event_log = await started(database_url)
    yield event_log
    await event_log.close()


def event(topic: str, n: int = 0, id: str | None = None, **data: object) -> Envelope:
    return Envelope.build(topic, "test.event", {"n": n, **data}, id=id)


async def test_appends_are_numbered_and_survive_a_restart(database_url: str) -> None:
    log = await started(database_url)
    first = await log.append(event("chat:room", 1, meta_note="x"))
    second = await log.append(event("chat:room", 2))
    other = await log.append(event("chat:other", 3))
    assert (first.created, first.envelope.seq, second.envelope.seq, other.envelope.seq) == (True, 1, 2, 1)
    await log.close()

    reopened = await started(database_url)
    try:
        backlog = await reopened.backlog("chat:room", 0)
        assert [e.to_dict() for e in backlog.events] == [first.envelope.to_dict(), second.envelope.to_dict()]
        assert (backlog.complete, backlog.latest_seq) == (True, 2)
        assert await reopened.latest_seq("chat:room") == 2
        assert await reopened.latest_seq("chat:nobody") == 0
        assert (await reopened.append(event("chat:room", 4))).envelope.seq == 3
    finally:
        await reopened.close()


async def test_200_concurrent_appends_get_1_to_200_in_few_transactions(log: SqlEventLog) -> None:
    commits = 0

    def count(_connection: object) -> None:
        nonlocal commits
        commits += 1

    sa.event.listen(log.engine.sync_engine, "commit", count)
    results = await asyncio.gather(*(log.append(event("chat:busy", n)) for n in range(200)))
    assert sorted(r.envelope.seq for r in results) == list(range(1, 201))
    # Seqs follow the order the calls were made in.
    assert [r.envelope.data["n"] for r in sorted(results, key=lambda r: r.envelope.seq)] == list(range(200))
    assert all(r.created for r in results)
    # Group commit: the 200 appends shared a handful of transactions.
    assert commits < 20, commits
    backlog = await log.backlog("chat:busy", 0)
    assert [e.seq for e in backlog.events] == list(range(1, 201))
    assert backlog.complete and backlog.latest_seq == 200


async def test_interleaved_topics_keep_append_order_across_concurrent_transactions(log: SqlEventLog) -> None:
    # Appends fired together: a batch takes half of what waits and, on PostgreSQL,
    # a second transaction writes other topics meanwhile. Each topic's seqs still
    # follow the order its appends were made in, with no gap: the late chat:t0
    # appends wait for the transaction that holds chat:t0's earlier ones.
    calls = ([f"chat:t{n % 4}" for n in range(600)] + [f"chat:t{4 + n % 4}" for n in range(500)]
             + ["chat:t0"] * 100)
    in_flight = most = 0
    write_batch = log._write_batch

    async def counted(batch: Any) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            await write_batch(batch)
        finally:
            in_flight -= 1

    log._write_batch = counted  # type: ignore[method-assign]
    results = await asyncio.gather(*(log.append(event(topic, n), fresh_id=True) for n, topic in enumerate(calls)))
    for topic in sorted(set(calls)):
        mine = [r.envelope for r in results if r.envelope.topic == topic]
        assert [e.seq for e in mine] == list(range(1, len(mine) + 1)), topic
        assert [e.data["n"] for e in mine] == [n for n, t in enumerate(calls) if t == topic]
    assert most == log._max_flushers == (2 if log.engine.dialect.name == "postgresql" else 1)
    # On SQLite the callers are answered once their transaction committed on the driver's thread,
    # before the flusher has ended SQLAlchemy's side of it.
    await asyncio.gather(*log._flushers)
    assert log._writing == set() and not log._queue


async def test_concurrent_offline_queue_reads_get_each_users_own_queue(log: SqlEventLog) -> None:
    # A connect storm: many users' queues are read by a few shared queries.
    queued: dict[str, list[str]] = {}
    for u in range(60):
        user = f"u{u}"
        queued[user] = [(await log.append(event(f"user:{user}", n), inbox_user=user)).envelope.id for n in range(u % 4)]
    users = [f"u{u}" for u in range(60)] + ["nobody"]
    results = await asyncio.gather(*(log.pending(user) for user in users))
    for user, pending in zip(users, results):
        assert [e.id for e in pending] == queued.get(user, [])
        assert [e.seq for e in pending] == list(range(1, len(pending) + 1))


async def test_the_same_id_appended_concurrently_is_stored_once(log: SqlEventLog) -> None:
    first = event("chat:room", 1, id="client-key-1")
    retry = event("chat:room", 2, id="client-key-1")  # same id, different body: the first one wins
    results = await asyncio.gather(log.append(first), log.append(retry), log.append(event("chat:room", 3)))
    assert [r.created for r in results] == [True, False, True]
    assert results[1].envelope == results[0].envelope
    assert results[1].envelope.data == {"n": 1}
    # Later, in a transaction of its own, the id is still recognised and spends no seq.
    again = await log.append(event("chat:room", 4, id="client-key-1"))
    assert (again.created, again.envelope.seq, again.envelope.data) == (False, results[0].envelope.seq, {"n": 1})
    assert await log.latest_seq("chat:room") == 2
    assert (await log.append(event("chat:room", 5))).envelope.seq == 3
    # The same id on another topic is another event.
    assert (await log.append(event("chat:elsewhere", 6, id="client-key-1"))).created


async def test_a_failing_event_does_not_sink_its_batch(log: SqlEventLog) -> None:
    bad = Envelope(type="test.event", topic="chat:room", data={"not json": {1, 2}})
    results = await asyncio.gather(
        *(log.append(event("chat:room", n)) for n in range(5)), log.append(bad), return_exceptions=True
    )
    assert isinstance(results[-1], Exception)
    good = [r for r in results[:-1] if not isinstance(r, BaseException)]
    assert sorted(r.envelope.seq for r in good) == [1, 2, 3, 4, 5]
    assert (await log.backlog("chat:room", 0)).complete


async def test_inbox_pending_and_ack(log: SqlEventLog) -> None:
    sent = [(await log.append(event("user:alice", n), inbox_user="alice")).envelope for n in range(3)]
    await log.append(event("user:bob", 9), inbox_user="bob")
    await log.append(event("chat:room", 0))  # not an inbox event
    assert [e.id for e in await log.pending("alice")] == [e.id for e in sent]
    assert [e.seq for e in await log.pending("alice")] == [1, 2, 3]

    assert await log.ack("alice", [sent[0].id, sent[2].id, "unknown-id"]) == 2
    assert [e.id for e in await log.pending("alice")] == [sent[1].id]
    assert await log.ack("alice", [sent[0].id]) == 0  # already acknowledged
    assert await log.ack("alice", []) == 0
    assert await log.ack("bob", [sent[1].id]) == 0  # not bob's
    assert len(await log.pending("bob")) == 1
    assert await log.pending("carol") == []
    # Re-appending a queued id does not queue it twice.
    await log.append(sent[1], inbox_user="alice")
    assert [e.id for e in await log.pending("alice")] == [sent[1].id]


async def test_backlog_completeness_after_trim(log: SqlEventLog) -> None:
    for n in range(10):
        await log.append(event("chat:room", n))
    await log.append(event("chat:other", 0))
    await log.append(event("chat_x:room", 0))  # '_' in a prefix is not a wildcard

    assert await log.trim("chat:", Retention(max_count=3)) == 7 + 0
    backlog = await log.backlog("chat:room", 0)
    assert [e.seq for e in backlog.events] == [8, 9, 10]
    assert (backlog.complete, backlog.latest_seq) == (False, 10)
    assert (await log.backlog("chat:room", 7)).complete
    assert not (await log.backlog("chat:room", 6)).complete
    limited = await log.backlog("chat:room", 7, limit=2)
    assert ([e.seq for e in limited.events], limited.complete) == ([8, 9], True)
    assert len((await log.backlog("chat_x:room", 0)).events) == 1
    # Seqs are never reused.
    assert (await log.append(event("chat:room", 10))).envelope.seq == 11

    assert await log.trim("chat:", Retention(max_age=0)) == 4 + 1
    assert await log.trim("chat:", Retention(max_age=3600, max_count=100)) == 0
    # Nothing stored after since, yet events were numbered after it: incomplete.
    gone = await log.backlog("chat:room", 5)
    assert (gone.events, gone.complete, gone.latest_seq) == ([], False, 11)
    caught_up = await log.backlog("chat:room", 11)
    assert (caught_up.events, caught_up.complete) == ([], True)
    assert (await log.backlog("chat:never", 0)).complete


async def test_trim_keeps_unacknowledged_inbox_events(log: SqlEventLog) -> None:
    sent = [(await log.append(event("user:alice", n), inbox_user="alice" if n == 1 else None)).envelope
            for n in range(5)]
    assert await log.trim("user:", Retention(max_count=1)) == 3
    assert [e.id for e in await log.pending("alice")] == [sent[1].id]
    backlog = await log.backlog("user:alice", 1)
    # 2 is kept for the inbox, 3 and 4 are gone, 5 is the newest: a hole, so incomplete.
    assert ([e.seq for e in backlog.events], backlog.complete) == ([2, 5], False)
    assert await log.ack("alice", [sent[1].id]) == 1
    assert await log.trim("user:", Retention(max_count=1)) == 1
    assert [e.seq for e in (await log.backlog("user:alice", 0)).events] == [5]


async def test_two_event_logs_on_one_database_number_without_gaps(database_url: str) -> None:
    # Two engines are two pools of connections, as two hub processes would have.
    first = await started(database_url)
    second = await started(database_url)
    try:
        results = await asyncio.gather(*(
            (first if n % 2 else second).append(event("chat:shared", n, id=f"e{n % 120}"))
            for n in range(240)
        ))
        created = [r.envelope.seq for r in results if r.created]
        assert sorted(created) == list(range(1, 121))
        by_id = {r.envelope.id: r.envelope.seq for r in results if r.created}
        assert all(by_id[r.envelope.id] == r.envelope.seq for r in results)
        backlog = await first.backlog("chat:shared", 0)
        assert [e.seq for e in backlog.events] == list(range(1, 121)) and backlog.complete
    finally:
        await first.close()
        await second.close()


async def test_slimming_the_inbox_keeps_queued_events(database_url: str) -> None:
    # Revision 0007 rebuilds (SQLite) or alters (PostgreSQL) hub_inbox: a queue
    # stored before it is still there after it, and after going back down.
    await db.upgrade_url(database_url, "0006")
    engine = db.create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text(
                "INSERT INTO hub_events (topic, seq, id, type, ts, data, meta, stored_at) "
                "VALUES ('user:ann', 1, 'e1', 'test.event', '2026-11-30T00:00:00.000Z', '{}', '{}', 0)"
            ))
            await connection.execute(sa.text(
                "INSERT INTO hub_inbox (user_id, topic, seq, event_id) VALUES ('ann', 'user:ann', 1, 'e1')"
            ))
    finally:
        await engine.dispose()
    await db.upgrade_url(database_url)
    log = await started(database_url)
    try:
        assert [e.id for e in await log.pending("ann")] == ["e1"]
        assert await log.ack("ann", ["e1"]) == 1
    finally:
        await log.close()
    await run_alembic_downgrade(database_url, "0006")
    assert "hub_inbox" in await table_names(database_url)


async def run_alembic_downgrade(url: str, revision: str) -> None:
    from alembic import command

    engine = db.create_engine(url)
    try:
        async with engine.begin() as connection:
            def down(sync: Any) -> None:
                config = db.alembic_config()
                config.attributes["connection"] = sync
                command.downgrade(config, revision)

            await connection.run_sync(down)
    finally:
        await engine.dispose()


async def test_start_refuses_an_outdated_schema(database_url: str) -> None:
    await db.upgrade_url(database_url)
    engine = db.create_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(sa.text("UPDATE alembic_version SET version_num = '0000'"))
    await engine.dispose()
    log = SqlEventLog(database_url)
    with pytest.raises(RuntimeError) as caught:
        await log.start()
    head = db.head_revision()
    assert str(caught.value) == f"the database schema is at revision 0000, the hub needs {head}: run `hub db upgrade`"


async def test_start_creates_a_new_sqlite_file_but_not_a_server_schema(database_url: str) -> None:
    log = SqlEventLog(database_url)
    if database_url.startswith("sqlite"):
        await log.start()
        await log.close()
        assert {"hub_events", "hub_inbox", "hub_topic_seqs", "alembic_version"} <= set(await table_names(database_url))
    else:
        with pytest.raises(RuntimeError, match=r"revision none .* run `hub db upgrade`"):
            await log.start()
        assert await table_names(database_url) == []


async def test_health(log: SqlEventLog) -> None:
    assert await log.health() == "ok"


async def test_admin_query_filters_and_pages(log: SqlEventLog) -> None:
    def sent(topic: str, n: int, sender: str, ts: str, type: str = "chat.message") -> Envelope:
        return Envelope(type=type, topic=topic, data={"n": n}, meta={"sender": sender}, ts=ts)

    stored = [(await log.append(e)).envelope for e in (
        sent("chat:a", 0, "alice", "2025-01-01T00:00:00.000Z"),
        sent("chat:a", 1, "bob", "2025-01-01T00:00:01.000Z"),
        sent("chat:b", 2, "alice", "2025-01-01T00:00:01.000Z", type="chat.edited"),
        sent("user:alice", 3, "service", "2025-01-01T00:00:02.000Z"),
        sent("chat:a", 4, "carol", "2025-01-01T00:00:03.000Z"),
    )]
    ns = lambda events: [e.data["n"] for e in events]  # noqa: E731
    # Ordered by (ts, seq, topic): n=2 (seq 1 of chat:b) comes before n=1 (seq 2 of chat:a) at the same ts.
    assert ns(await log.query(EventQuery())) == [0, 2, 1, 3, 4]
    assert ns(await log.query(EventQuery(topic="chat:a"))) == [0, 1, 4]
    assert ns(await log.query(EventQuery(type="chat.edited"))) == [2]
    assert ns(await log.query(EventQuery(user="alice"))) == [0, 2, 3]  # sent by her, or her inbox
    assert ns(await log.query(EventQuery(ts_from="2025-01-01T00:00:01.000Z", ts_to="2025-01-01T00:00:02.000Z"))) == [2, 1, 3]
    assert ns(await log.query(EventQuery(topic="chat:a", seq_from=2, seq_to=3))) == [1, 4]
    first = await log.query(EventQuery(limit=2))
    assert ns(first) == [0, 2]
    rest = await log.query(EventQuery(after=page_cursor(first[-1]), limit=10))
    assert ns(rest) == [1, 3, 4]
    assert stored[0] == first[0]


async def test_replay_records_newest_first(log: SqlEventLog) -> None:
    records = [
        ReplayRecord(id=f"r{n}", actor="admin", requested_at="2025-01-01T00:00:00.000Z",
                     filters={"topic": "chat:a", "n": n}, target_user="bob" if n else None, count=n, dry_run=n == 2)
        for n in range(3)
    ]
    for record in records:
        await log.record_replay(record)
    assert list(await log.replays()) == records[::-1]
    assert list(await log.replays(limit=1)) == [records[2]]


async def test_offline_queue_reads_see_every_commit_before_them(database_url: str) -> None:
    """On SQLite the reads keep one connection (one trip to the driver's thread each): it never
    holds an old snapshot, whichever process (engine) wrote the events."""
    reader, writer = await started(database_url), await started(database_url)
    try:
        assert await reader.pending("kept") == []
        for n in range(3):
            await (writer if n % 2 else reader).append(event("user:kept", n), inbox_user="kept")
            assert [e.data["n"] for e in await reader.pending("kept")] == list(range(n + 1))
        assert await writer.ack("kept", [e.id for e in await reader.pending("kept")]) == 3
        assert await reader.pending("kept") == []
        if database_url.startswith("sqlite"):
            assert reader._sqlite_reads is not None and reader._sqlite_reads._driver is not None
    finally:
        await reader.close()
        await writer.close()


async def test_a_broken_kept_read_connection_is_replaced(tmp_path: Path) -> None:
    log = await started(f"sqlite+aiosqlite:///{tmp_path}/broken.db")
    try:
        await log.append(event("user:ann"), inbox_user="ann")
        assert len(await log.pending("ann")) == 1
        reads = log._sqlite_reads
        assert reads is not None and reads._driver is not None
        broken = reads._driver
        await broken.close()  # as if the connection died between two reads
        assert len(await log.pending("ann")) == 1
        assert reads._driver is not None and reads._driver is not broken
    finally:
        await log.close()
