"""Durability benchmark: durable publishes per second into 1,000 inboxes, and an offline backlog on reconnect.

Not a test: it prints a table and writes bench/results/durability.json. For each backend:

1. ``append``: the event log's own rate (``SqlEventLog.append`` with an inbox user), and
   ``publish``: ``Hub.publish`` to ``user:u<n % 1000>`` in process, the path every durable
   event takes (nobody is connected, so nothing is sent);
2. ``http``: the same events into the same 1,000 inboxes, from a backend to a real ``hub serve``
   process: ``single``, one ``POST /api/publish`` per event from ``--http-concurrency``
   keep-alive connections, and ``batch``, ``POST /api/publish/batch`` with ``--batch-size``
   events per request from ``--batch-concurrency`` connections; each with its ratio to
   ``publish`` of the same run, and the hub process's CPU per event;
3. ``backlog``: a real ``hub serve`` process; ``--backlog`` events are queued for one offline
   user over HTTP, then a Node socket.io-client connects and the time from connect to
   ``hub.welcome`` and from there to the last queued event is measured.

SQLite runs on files in a temporary directory; PostgreSQL on a database created for each
step on the given server and dropped afterwards. Usage::

    python bench/durability_bench.py [--events 20000] [--backlog 10000] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
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
from hub.jsoncodec import decode_json, encode_json
from hub.plugin_schema import plugin_branches
from hub.plugins import load_plugins
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


@functools.cache
def migration_branches() -> db.Branches:
    """The migration branches of the plugins a hub loads by default (all installed)."""
    return plugin_branches(load_plugins(None))


@contextlib.asynccontextmanager
async def fresh_database(backend: str, args: argparse.Namespace, directory: Path) -> AsyncIterator[str]:
    """The URL of an empty, migrated database, removed afterwards."""
    name = f"hub_bench_{secrets.token_hex(4)}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / (name + '.db')}"
        await db.upgrade_url(url, branches=migration_branches())
        yield url
        return
    await _admin(args.postgres, f'CREATE DATABASE "{name}"')
    try:
        url = sa.make_url(args.postgres).set(database=name).render_as_string(False)
        # Every installed plugin's tables too: a hub on PostgreSQL does not migrate by itself.
        await db.upgrade_url(url, branches=migration_branches())
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
    log = SqlEventLog(url, migration_branches())
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


# -- over HTTP ------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def inbox_event(n: int, inboxes: int) -> dict[str, Any]:
    return {"topic": f"user:u{n % inboxes}", "type": "bench.event", "data": {"n": n}}


class KeepAlive(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time: the load generator's client.

    Not aiohttp: its client spent about 100 µs of CPU per request, as much as the
    hub, and on two cores the client, not the hub, set the rate.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    @classmethod
    async def open(cls, url: str) -> KeepAlive:
        address = url.removeprefix("http://").rstrip("/")
        host, _, port = address.partition(":")
        _, protocol = await asyncio.get_running_loop().create_connection(cls, host, int(port))
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"the hub closed the connection ({exc})"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end]).decode("latin-1").lower()
        length = int(head.partition("\r\ncontent-length:")[2].partition("\r\n")[0] or -1)
        if length < 0:
            raise RuntimeError(f"a response without Content-Length: {head!r}")
        if len(self.buffer) < end + 4 + length:
            return
        body = bytes(self.buffer[end + 4:end + 4 + length])
        del self.buffer[:end + 4 + length]
        self.waiter.set_result((int(head[9:12]), body))

    async def post(self, path: str, authorization: str, body: bytes) -> Any:
        """POST a JSON body; the decoded JSON answer, or RuntimeError on a status other than 2xx."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(
            f"POST {path} HTTP/1.1\r\nhost: hub\r\nauthorization: {authorization}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body
        )
        status, answer = await self.waiter
        self.waiter = None
        if not 200 <= status < 300:
            raise RuntimeError(f"POST {path}: {status} {answer[:300]!r}")
        return decode_json(answer)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def drive_connections(hub_url: str, requests: int, concurrency: int,
                            send: Callable[[KeepAlive, int], Awaitable[Any]]) -> dict[str, float]:
    """``send(connection, n)`` for n in range(requests), over ``concurrency`` keep-alive connections."""
    connections = [await KeepAlive.open(hub_url) for _ in range(concurrency)]
    idle = list(connections)
    try:
        async def publish(n: int) -> None:
            connection = idle.pop()
            try:
                await send(connection, n)
            finally:
                idle.append(connection)

        return await drive(requests, concurrency, publish)
    finally:
        for connection in connections:
            connection.close()


async def http_single(hub_url: str, headers: dict[str, str], events: int, concurrency: int,
                      event: Callable[[int], dict[str, Any]]) -> dict[str, float]:
    """``events`` single ``POST /api/publish`` from ``concurrency`` keep-alive connections."""
    async def send(connection: KeepAlive, n: int) -> None:
        await connection.post("/api/publish", headers["authorization"], encode_json(event(n)))

    return await drive_connections(hub_url, events, concurrency, send)


async def http_batch(hub_url: str, headers: dict[str, str], events: int, size: int, concurrency: int,
                     event: Callable[[int], dict[str, Any]]) -> dict[str, float]:
    """``events`` in ``POST /api/publish/batch`` requests of ``size`` from ``concurrency`` connections."""
    failed: list[Any] = []

    async def send(connection: KeepAlive, batch: int) -> None:
        first = batch * size
        body = {"events": [event(n) for n in range(first, min(first + size, events))]}
        answer = await connection.post("/api/publish/batch", headers["authorization"], encode_json(body))
        failed.extend(result for result in answer["results"] if "error" in result)

    batches = -(-events // size)
    result = await drive_connections(hub_url, batches, concurrency, send)
    result["loop_cpu_us_per_event"] = round(result["loop_cpu_us_per_event"] * batches / events, 1)
    if failed:
        raise RuntimeError(f"{len(failed)} events of the batches failed, e.g. {failed[0]}")
    result["events"] = events
    result["per_second"] = round(events / result["seconds"])
    return result


async def count_inboxes(url: str, inboxes: int) -> int:
    log = SqlEventLog(url, migration_branches())
    await log.start()
    try:
        return sum([await log.latest_seq(f"user:u{u}") for u in range(inboxes)])
    finally:
        await log.close()


async def bench_http(url: str, args: argparse.Namespace, directory: Path, mode: str) -> dict[str, Any]:
    """``mode`` ``single`` or ``batch``: ``--events`` into the 1,000 inboxes of a ``hub serve`` process."""
    hub = await asyncio.to_thread(start_hub, directory, {"HUB_DATABASE_URL": url})
    event = functools.partial(inbox_event, inboxes=args.inboxes)
    try:
        assert hub.process is not None
        cpu = process_cpu(hub.process.pid)
        if mode == "single":
            result = await http_single(hub.url, hub.headers(), args.events, args.http_concurrency, event)
        else:
            result = await http_batch(hub.url, hub.headers(), args.events, args.batch_size,
                                      args.batch_concurrency, event)
        # The load generator's own CPU per event: it must stay well under the hub's.
        result["client_cpu_us_per_event"] = result.pop("loop_cpu_us_per_event")
        result["hub_cpu_us_per_event"] = round((process_cpu(hub.process.pid) - cpu) / args.events * 1e6, 1)
    finally:
        await asyncio.to_thread(hub.stop)
    stored = await count_inboxes(url, args.inboxes)
    if stored != args.events:
        raise RuntimeError(f"{stored} events stored, {args.events} published over HTTP ({mode})")
    return result


# -- backlog delivery ------------------------------------------------------------


async def fill_over_http(hub_url: str, headers: dict[str, str], events: int, args: argparse.Namespace) -> None:
    """Queue ``events`` for the offline user, in batches (or singly where the hub has no batch route)."""
    def event(n: int) -> dict[str, Any]:
        return {"topic": f"user:{OFFLINE_USER}", "type": "bench.event", "data": {"n": n}}

    if args.batch_size:
        await http_batch(hub_url, headers, events, args.batch_size, args.batch_concurrency, event)
    else:
        await http_single(hub_url, headers, events, args.http_concurrency, event)


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
        await fill_over_http(hub.url, hub.headers(), args.backlog, args)
        token = hub.token(OFFLINE_USER)
        # The client never acks, so every round receives the same queue.
        rounds = [await receive_backlog(hub.url, token, args.backlog) for _ in range(args.rounds)]
    finally:
        await asyncio.to_thread(hub.stop)
    return {
        "rounds": rounds,
        "median_welcome_ms": round(statistics.median(r["welcome_ms"] for r in rounds), 1),
        "median_delivery_ms": round(statistics.median(r["delivery_ms"] for r in rounds), 1),
        "median_total_ms": round(statistics.median(r["total_ms"] for r in rounds), 1),
    }


# -- main --------------------------------------------------------------------------


def ratio(value: float, reference: float) -> float:
    return round(value / reference, 2) if reference else 0.0


async def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """One backend's figures: each publishing step ``--repeat`` times in turn, then the backlog."""
    steps: dict[str, list[dict[str, Any]]] = {"append": [], "publish": [], "http_single": [], "http_batch": []}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for round_ in range(args.repeat):
            # In turn, so that a change in the machine's load touches every step alike.
            async with fresh_database(backend, args, directory) as url:
                steps["append"].append(await bench_append(url, args))
            async with fresh_database(backend, args, directory) as url:
                steps["publish"].append(await bench_publish(url, args, directory / f"publish{round_}"))
            async with fresh_database(backend, args, directory) as url:
                steps["http_single"].append(await bench_http(url, args, directory / f"single{round_}", "single"))
            if args.batch_size:
                async with fresh_database(backend, args, directory) as url:
                    steps["http_batch"].append(await bench_http(url, args, directory / f"batch{round_}", "batch"))
        async with fresh_database(backend, args, directory) as url:
            backlog = await bench_backlog(url, args, directory / "backlog")
    # Each figure is the median run of its step; the ratios compare medians of the same run.
    result: dict[str, Any] = {}
    for name, runs in steps.items():
        if runs:
            result[name] = {**sorted(runs, key=lambda r: r["per_second"])[len(runs) // 2], "runs": [r["per_second"] for r in runs]}
    in_process = result["publish"]["per_second"]
    for name in ("http_single", "http_batch"):
        if name in result:
            result[name]["ratio_to_publish"] = ratio(result[name]["per_second"], in_process)
    result["backlog"] = backlog
    return result


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


def print_table(results: dict[str, Any], machine: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\n{args.events} durable events into {args.inboxes} inboxes; in process from {args.concurrency} tasks, "
          f"over HTTP singly from {args.http_concurrency} keep-alive connections and in batches of "
          f"{args.batch_size} from {args.batch_concurrency}; median of {args.repeat} run(s) each. "
          f"Backlog of {args.backlog} for one user, median of {args.rounds} connects.")
    loads = machine["load_average_start"], machine["load_average_end"]
    print(f"{machine['cpus']} CPUs; load average (1, 5, 15 min) {loads[0]} at the start, {loads[1]} at the end"
          + (f"; {args.note}" if args.note else "") + "\n")
    print(f"{'backend':<11} {'append/s':>9} {'publish/s':>10} {'loop µs/ev':>11} {'http 1/s':>9} {'x pub':>6} "
          f"{'hub µs/ev':>10} {'batch/s':>8} {'x pub':>6} {'hub µs/ev':>10} "
          f"{'welcome ms':>11} {'backlog ms':>11} {'total ms':>9}")
    for backend, r in results.items():
        b, single = r["backlog"], r["http_single"]
        batch = r.get("http_batch", {"per_second": "-", "ratio_to_publish": "-", "hub_cpu_us_per_event": "-"})
        print(f"{backend:<11} {r['append']['per_second']:>9} {r['publish']['per_second']:>10} "
              f"{r['publish']['loop_cpu_us_per_event']:>11} {single['per_second']:>9} {single['ratio_to_publish']:>6} "
              f"{single['hub_cpu_us_per_event']:>10} {batch['per_second']:>8} {batch['ratio_to_publish']:>6} "
              f"{batch['hub_cpu_us_per_event']:>10} "
              f"{b['median_welcome_ms']:>11} {b['median_delivery_ms']:>11} {b['median_total_ms']:>9}")
    print(f"\nwritten to {args.output}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000, help="events per publish measurement")
    parser.add_argument("--inboxes", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=1000, help="publishing tasks")
    parser.add_argument("--backlog", type=int, default=10000, help="events queued for the offline user")
    parser.add_argument("--http-concurrency", type=int, default=100, help="keep-alive connections, single publishes")
    parser.add_argument("--batch-size", type=int, default=500,
                        help="events per POST /api/publish/batch (0: no batches, for a hub without the route)")
    parser.add_argument("--batch-concurrency", type=int, default=8, help="keep-alive connections, batches")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each publishing step; the median is shown")
    parser.add_argument("--rounds", type=int, default=3, help="reconnects measured per backend")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--note", default="", help="said with the figures, e.g. what else loads the machine")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    machine: dict[str, Any] = {
        "cpus": os.cpu_count(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
        "load_average_start": [round(load, 2) for load in os.getloadavg()],
    }
    results: dict[str, Any] = {}
    for backend in args.backends.split(","):
        if backend == "postgresql":
            machine["postgresql"] = await server_version(args)
            if machine["postgresql"] is None:
                continue
        results[backend] = await bench_backend(backend, args)
    machine["load_average_end"] = [round(load, 2) for load in os.getloadavg()]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    parameters = {k: v for k, v in vars(args).items() if k not in ("output", "note")}
    document = {"machine": machine, "note": args.note, "parameters": parameters, "results": results}
    args.output.write_text(json.dumps(document, indent=2))
    print_table(results, machine, args)


if __name__ == "__main__":
    asyncio.run(main())
