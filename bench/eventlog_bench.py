"""Durable appends per second into 1,000 user inboxes with 100 concurrent publishers.

Not a test: prints one line per backend. Usage:

    python bench/eventlog_bench.py [--events 20000] [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]

SQLite runs on a file in a temporary directory; PostgreSQL on a database
created for the run on the given server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from hub import db
from hub.envelope import Envelope
from hub.eventlog.sql import SqlEventLog

USERS = 1000
PUBLISHERS = int(__import__("os").environ.get("BENCH_PUBLISHERS", "100"))


async def run(url: str, events: int) -> float:
    await db.upgrade_url(url)
    log = SqlEventLog(url)
    await log.start()
    counter = iter(range(events))

    async def publisher() -> None:
        for n in counter:  # shared iterator: publishers take the next event until none is left
            user = f"u{n % USERS}"
            await log.append(Envelope.build(f"user:{user}", "bench.event", {"n": n}), inbox_user=user)

    started = time.perf_counter()
    await asyncio.gather(*(publisher() for _ in range(PUBLISHERS)))
    elapsed = time.perf_counter() - started
    assert sum([await log.latest_seq(f"user:u{u}") for u in range(USERS)]) == events
    await log.close()
    return events / elapsed


async def admin(url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(sa.make_url(url).set(drivername="postgresql").render_as_string(False))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        rate = await run(f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}", args.events)
        print(f"sqlite:     {rate:8.0f} durable appends/s ({args.events} events, {PUBLISHERS} publishers, {USERS} inboxes)")

    name = f"hub_bench_{secrets.token_hex(4)}"
    try:
        await admin(args.postgres, f'CREATE DATABASE "{name}"')
    except Exception as exc:
        print(f"postgresql: skipped ({type(exc).__name__}: {exc})")
        return
    try:
        url = sa.make_url(args.postgres).set(database=name).render_as_string(False)
        rate = await run(url, args.events)
        print(f"postgresql: {rate:8.0f} durable appends/s ({args.events} events, {PUBLISHERS} publishers, {USERS} inboxes)")
    finally:
        await admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
