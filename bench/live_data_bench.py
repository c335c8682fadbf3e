"""Live data benchmark: changes per second from a watched table to 1,000 filtered subscribers.

Not a test: it prints a table and writes bench/results/live_data.json. For each backend
(SQLite, PostgreSQL) and each policy (none, per-user ``owner``):

1. a real ``hub serve`` process watches the table ``cases`` of the application's database
   through the plugin's triggers and outbox (installed with ``hub live_data install-triggers``);
2. ``--subscribers`` python-socketio clients subscribe to ``live:cases``, client ``i`` with the
   filter ``{"grp": i % --filters}`` (and, with the policy, as user ``u<i>``, seeing only the
   records whose ``owner`` is them);
3. ``--writers`` tasks commit ``--changes`` upserts to the table, one transaction each (as fast
   as they can, or ``--rate`` per second in all); every row carries the time just before its
   commit, so each client measures commit-to-delivery.

``changes/s`` is the changes divided by the time from the first commit to the last delivery;
``views/change`` is the hub's ``hub_live_data_view_matches_total`` per change: how many views
were computed for each change (one per distinct filter and policy outcome among its
subscribers, not one per subscriber). Usage::

    python bench/live_data_bench.py [--subscribers 1000] [--filters 100] [--changes 2000]
        [--rate 0] [--backends sqlite,postgresql] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import socketio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from hub.testing import RunningHub

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "live_data.json"
ROWS = 1000


async def _admin(server_url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(sa.make_url(server_url).set(drivername="postgresql").render_as_string(False))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "hub", *args], env={**os.environ, **env}, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"hub {' '.join(args)} failed: {done.stderr}{done.stdout}")


class Subscriber:
    """One client: counts what it receives and how long after its commit each change arrived."""

    def __init__(self, latencies: list[float], last: list[float]) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.latencies = latencies
        self.last = last
        self.received = 0
        self.sio.on("live.added", self._changed)
        self.sio.on("live.changed", self._changed)
        self.sio.on("live.removed", self._removed)

    async def _changed(self, envelope: dict[str, Any]) -> None:
        now = time.time()
        self.received += 1
        self.latencies.append(now - envelope["data"]["record"]["t"])
        self.last[0] = now

    async def _removed(self, envelope: dict[str, Any]) -> None:
        self.received += 1
        self.last[0] = time.time()


async def _metric(hub: RunningHub, name: str) -> float:
    import httpx

    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as http:
        text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def _step(backend: str, policy: bool, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    name = f"{backend}-{'policy' if policy else 'open'}"
    directory = workdir / name
    directory.mkdir()
    database = None
    if backend == "sqlite":
        hub_url = f"sqlite+aiosqlite:///{directory / 'hub.db'}"
        app_url = f"sqlite+aiosqlite:///{directory / 'app.db'}"
    else:
        database = f"live_bench_{secrets.token_hex(4)}"
        await _admin(args.postgres, f'CREATE DATABASE "{database}"')
        hub_url = app_url = args.postgres.rsplit("/", 1)[0] + f"/{database}"
        _run(["db", "upgrade"], {"HUB_DATABASE_URL": hub_url})
    engine = create_async_engine(app_url, connect_args={"timeout": 30} if backend == "sqlite" else {})
    hub = None
    clients: list[Subscriber] = []
    try:
        real = "REAL" if backend == "sqlite" else "DOUBLE PRECISION"
        async with engine.begin() as connection:
            await connection.execute(sa.text(f"CREATE TABLE cases (id INTEGER PRIMARY KEY, grp INTEGER, owner TEXT, t {real})"))
        _run(["live_data", "install-triggers", "--table", "cases", "--url", app_url], {})
        collection: dict[str, Any] = {"source": {"table": "cases", "key": "id"}}
        if policy:
            collection["owner"] = "owner"
        hub = RunningHub(directory, {
            "HUB_DATABASE_URL": hub_url, "HUB_PLUGIN_LIVE_DATA_SOURCE_URL": app_url,
            "HUB_PLUGIN_LIVE_DATA_COLLECTIONS": json.dumps({"cases": collection}),
            "HUB_PLUGIN_LIVE_DATA_POLL_INTERVAL": "0.02", "HUB_LOG_LEVEL": "warning",
            "HUB_MAX_CONNECTIONS_PER_USER": "100000",
        }).start()
        latencies: list[float] = []
        last = [0.0]
        for number in range(args.subscribers):
            clients.append(Subscriber(latencies, last))

        async def join(number: int) -> None:
            client = clients[number]
            user = f"u{number}" if policy else f"watcher{number % 10}"
            await client.sio.connect(hub.url, auth={"token": hub.token(user)}, transports=["websocket"], wait_timeout=60)
            reply = await client.sio.call("subscribe", {"topic": "live:cases", "filter": {"grp": number % args.filters}}, timeout=60)
            assert reply["ok"], reply

        for start in range(0, args.subscribers, 50):
            await asyncio.gather(*(join(number) for number in range(start, min(start + 50, args.subscribers))))
        matches_before = await _metric(hub, "hub_live_data_view_matches_total")
        rng = random.Random(7)
        per_group = max(1, args.subscribers // args.filters)
        plan = []
        for _ in range(args.changes):
            row = rng.randrange(ROWS)
            group = row % args.filters
            plan.append((row, group, f"u{group + args.filters * rng.randrange(per_group)}"))
        queue = list(reversed(plan))
        upsert = sa.text(
            "INSERT INTO cases (id, grp, owner, t) VALUES (:id, :grp, :owner, :t) "
            "ON CONFLICT (id) DO UPDATE SET grp = excluded.grp, owner = excluded.owner, t = excluded.t"
        )

        async def writer() -> None:
            interval = args.writers / args.rate if args.rate else 0.0
            next_at = time.monotonic()
            while queue:
                row, group, owner = queue.pop()
                async with engine.begin() as connection:
                    await connection.execute(upsert, {"id": row, "grp": group, "owner": owner, "t": time.time()})
                if interval:
                    next_at += interval
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        started = time.time()
        await asyncio.gather(*(writer() for _ in range(args.writers)))
        committed = time.time()
        # Quiet for two seconds: every change that will be delivered has been.
        while True:
            before = sum(client.received for client in clients)
            await asyncio.sleep(2.0)
            if sum(client.received for client in clients) == before:
                break
        stored = await _metric(hub, "hub_live_data_changes_total")
        matches = await _metric(hub, "hub_live_data_view_matches_total") - matches_before
        elapsed = max(last[0], committed) - started
        latencies.sort()
        return {
            "backend": backend, "policy": "owner" if policy else "none", "subscribers": args.subscribers,
            "rate": args.rate,
            "filters": args.filters, "changes": args.changes, "stored": stored,
            "changes_per_s": args.changes / elapsed if elapsed else 0.0,
            "commit_s": committed - started,
            "deliveries": sum(client.received for client in clients),
            "views_per_change": matches / stored if stored else 0.0,
            "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
            "p99_ms": 1000 * latencies[int(len(latencies) * 0.99) - 1] if latencies else None,
        }
    finally:
        await asyncio.gather(*(client.sio.disconnect() for client in clients), return_exceptions=True)
        if hub is not None:
            hub.stop()
        await engine.dispose()
        if database is not None:
            await _admin(args.postgres, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--filters", type=int, default=100)
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="Changes per second the writers commit, in all (0: as fast as they can). "
                             "Saturated, the latency is mostly queueing; paced below the throughput, it is the path's own.")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for backend in args.backends.split(","):
            for policy in (False, True):
                row = await _step(backend, policy, args, Path(workdir))
                rows.append(row)
                print(
                    f"{row['backend']:<10} policy={row['policy']:<5} {row['changes_per_s']:8.0f} changes/s  "
                    f"deliveries={row['deliveries']:<7} views/change={row['views_per_change']:6.1f}  "
                    f"p50={row['p50_ms']:.0f} ms  p99={row['p99_ms']:.0f} ms",
                    flush=True,
                )
    RESULTS.parent.mkdir(exist_ok=True)
    results = RESULTS if not args.rate else RESULTS.with_name("live_data_paced.json")
    results.write_text(json.dumps({
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "load": os.getloadavg()},
        "parameters": vars(args), "results": rows,
    }, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
