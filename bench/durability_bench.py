"""Durability benchmark: durable publishes per second into 1,000 inboxes, and an offline backlog on reconnect.

Not a test: it prints a table and writes bench/results/durability.json. For each backend:

1. ``append``: the event log's own rate (``SqlEventLog.append`` with an inbox user), and
   ``publish``: ``Hub.publish`` to ``user:u<n % 1000>`` in process, the path every durable
   event takes (nobody is connected, so nothing is sent);
2. ``backlog``: a real ``hub serve`` process; ``--backlog`` events are queued for one offline
   user through ``POST /api/publish``, then a Node socket.io-client connects and the time from
   connect to ``hub.welcome`` and from there to the last queued event is measured.

SQLite runs on files in a temporary directory; PostgreSQL on a database created for each
step on the given server and dropped afterwards. Usage::

    python bench/durability_bench.py [--events 20000] [--backlog 10000] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import sqlite3
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hub import db
from hub.app import create_app
from hub.config import load_settings
from hub.envelope import Envelope
from hub.eventlog.sql import SqlEventLog
from hub.testing import start_hub

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "durability.json"
CLIENT = BENCH_DIR / "backlog_client.mjs"
OFFLINE_USER = "offline"


# -- databases -------------------------------------------------------------------


async def _admin(server_url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(sa.make_url(server_url).set(drivername="postgresql").render_as_string(False))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def fresh_database(backend: str, args: argparse.Namespace, directory: Path) -> AsyncIterator[str]:
    """The URL of an empty, migrated database, removed afterwards."""
    name = f"hub_bench_{secrets.token_hex(4)}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / (name + '.db')}"
        await db.upgrade_url(url)
        yield url
        return
    await _admin(args.postgres, f'CREATE DATABASE "{name}"')
    try:
        url = sa.make_url(args.postgres).set(database=name).render_as_string(False)
        await db.upgrade_url(url)
        yield url
    finally:
        await _admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- publishing ------------------------------------------------------------------


async def drive(events: int, concurrency: int, publish: Callable[[int], Awaitable[Any]]) -> dict[str, float]:
    """Run ``publish(n)`` for n in range(events) from ``concurrency`` tasks; rate and event-loop CPU per event."""
    counter = iter(range(events))

    async def worker() -> None:
        for n in counter:  # shared iterator: each task takes the next n until none is left
            await publish(n)

    cpu, started = time.thread_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "events": events,
        "seconds": round(elapsed, 3),
        "per_second": round(events / elapsed),
        # The event loop's own CPU per event: what bounds the rate once the database keeps up.
        "loop_cpu_us_per_event": round((time.thread_time() - cpu) / events * 1e6, 1),
    }


async def bench_append(url: str, args: argparse.Namespace) -> dict[str, float]:
    log = SqlEventLog(url)
    await log.start()
    try:
        def publish(n: int) -> Awaitable[Any]:
            user = f"u{n % args.inboxes}"
            return log.append(Envelope.build(f"user:{user}", "bench.event", {"n": n}), inbox_user=user)

        result = await drive(args.events, args.concurrency, publish)
        stored = sum([await log.latest_seq(f"user:u{u}") for u in range(args.inboxes)])
        assert stored == args.events, f"{stored} events stored, {args.events} appended"
        return result
    finally:
        await log.close()


async def bench_publish(url: str, args: argparse.Namespace, directory: Path) -> dict[str, float]:
    settings = load_settings(environ={
        "HUB_DATABASE_URL": url, "HUB_JWT_SECRET": secrets.token_urlsafe(32),
        "HUB_DATA_DIR": str(directory), "HUB_LOG_LEVEL": "warning",
    })
    hub = create_app(settings).hub
    await hub.start()
    try:
        def publish(n: int) -> Awaitable[Any]:
            return hub.publish(f"user:u{n % args.inboxes}", "bench.event", {"n": n})

        result = await drive(args.events, args.concurrency, publish)
        stored = sum([await hub.log.latest_seq(f"user:u{u}") for u in range(args.inboxes)])
        assert stored == args.events, f"{stored} events stored, {args.events} published"
        return result
    finally:
        await hub.stop()


# -- backlog delivery ------------------------------------------------------------


async def fill_over_http(hub_url: str, headers: dict[str, str], events: int, concurrency: int) -> dict[str, float]:
    """Queue ``events`` for the offline user with concurrent ``POST /api/publish``."""
    import aiohttp

    # aiohttp, not httpx: httpx's connection pool, not the hub, capped this at ~100 requests/s.
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(hub_url, headers=headers, connector=connector) as http:
        async def publish(n: int) -> None:
            body = {"topic": f"user:{OFFLINE_USER}", "type": "bench.event", "data": {"n": n}}
            async with http.post("/api/publish", json=body) as response:
                response.raise_for_status()

        return await drive(events, concurrency, publish)


async def receive_backlog(hub_url: str, token: str, expected: int) -> dict[str, Any]:
    """Connect the Node client once; its timings in milliseconds."""
    env = {**os.environ, "HUB_URL": hub_url, "HUB_TOKEN": token, "BENCH_EXPECTED": str(expected)}
    process = await asyncio.create_subprocess_exec(
        "node", str(CLIENT), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await process.communicate()
    if process.returncode != 0 or not stdout.strip():
        raise RuntimeError(f"the Node client failed ({process.returncode}): {stdout.decode()} {stderr.decode()}")
    result: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    if result["events"] != expected or not result["in_order"]:
        raise RuntimeError(f"the Node client got {result}")
    result["delivery_ms"] = round(result["last_event_ms"] - result["welcome_ms"], 1)
    result["total_ms"] = round(result["last_event_ms"], 1)
    return result


async def bench_backlog(url: str, args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    hub = await asyncio.to_thread(start_hub, directory, {"HUB_DATABASE_URL": url})
    try:
        fill = await fill_over_http(hub.url, hub.headers(), args.backlog, args.http_concurrency)
        token = hub.token(OFFLINE_USER)
        # The client never acks, so every round receives the same queue.
        rounds = [await receive_backlog(hub.url, token, args.backlog) for _ in range(args.rounds)]
    finally:
        await asyncio.to_thread(hub.stop)
    return {
        "http_publish": fill,
        "rounds": rounds,
        "median_welcome_ms": round(statistics.median(r["welcome_ms"] for r in rounds), 1),
        "median_delivery_ms": round(statistics.median(r["delivery_ms"] for r in rounds), 1),
        "median_total_ms": round(statistics.median(r["total_ms"] for r in rounds), 1),
    }


# -- main --------------------------------------------------------------------------


async def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        async with fresh_database(backend, args, directory) as url:
            append = await bench_append(url, args)
        async with fresh_database(backend, args, directory) as url:
            publish = await bench_publish(url, args, directory / "publish")
        async with fresh_database(backend, args, directory) as url:
            backlog = await bench_backlog(url, args, directory / "backlog")
    return {"append": append, "publish": publish, "backlog": backlog}


async def server_version(args: argparse.Namespace) -> str | None:
    import asyncpg

    try:
        dsn = sa.make_url(args.postgres).set(drivername="postgresql").render_as_string(False)
        connection = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"postgresql: skipped ({type(exc).__name__}: {exc})")
        return None
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


def print_table(results: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\n{args.events} durable events into {args.inboxes} inboxes from {args.concurrency} tasks; "
          f"backlog of {args.backlog} for one user, median of {args.rounds} connects\n")
    print(f"{'backend':<11} {'append/s':>9} {'publish/s':>10} {'loop µs/ev':>11} {'http pub/s':>11} "
          f"{'welcome ms':>11} {'backlog ms':>11} {'total ms':>9}")
    for backend, r in results.items():
        b = r["backlog"]
        print(f"{backend:<11} {r['append']['per_second']:>9} {r['publish']['per_second']:>10} "
              f"{r['publish']['loop_cpu_us_per_event']:>11} {b['http_publish']['per_second']:>11} "
              f"{b['median_welcome_ms']:>11} {b['median_delivery_ms']:>11} {b['median_total_ms']:>9}")
    print(f"\nwritten to {args.output}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000, help="events per publish measurement")
    parser.add_argument("--inboxes", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=1000, help="publishing tasks")
    parser.add_argument("--backlog", type=int, default=10000, help="events queued for the offline user")
    parser.add_argument("--http-concurrency", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="reconnects measured per backend")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    machine: dict[str, Any] = {
        "cpus": os.cpu_count(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
        "load_average": os.getloadavg()[0],
    }
    results: dict[str, Any] = {}
    for backend in args.backends.split(","):
        if backend == "postgresql":
            machine["postgresql"] = await server_version(args)
            if machine["postgresql"] is None:
                continue
        results[backend] = await bench_backend(backend, args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    parameters = {k: v for k, v in vars(args).items() if k != "output"}
    args.output.write_text(json.dumps({"machine": machine, "parameters": parameters, "results": results}, indent=2))
    print_table(results, args)


if __name__ == "__main__":
    asyncio.run(main())
