"""Where an idle connection's memory goes: the hub in process under tracemalloc, Node's loadgen connecting.

    .venv/bin/python bench/fanout/memprofile.py --connections 2000

Prints the RSS and traced memory per connection, the asyncio tasks and the
objects (by type) per connection, and the top allocation sites of what the
connections hold. A tool for the work on memory, not a benchmark: tracemalloc
slows the hub down and adds to RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import secrets
import sys
import tempfile
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def census() -> collections.Counter[str]:
    gc.collect()
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--no-trace", action="store_true", help="RSS and objects only")
    args = parser.parse_args()
    import uvicorn

    from hub._compat import websocket_protocol
    from hub.app import create_app
    from hub.config import load_settings

    secret = secrets.token_urlsafe(32)
    data = tempfile.mkdtemp(prefix="hub-mem-")
    env = {"HUB_JWT_SECRET": secret, "HUB_DATA_DIR": data, "HUB_LOG_LEVEL": "warning"}
    env.update({k: v for k, v in os.environ.items() if k.startswith("HUB_")})
    settings = load_settings(environ=env)
    app = create_app(settings)
    import socket as _socket

    with _socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                            ws=websocket_protocol(app.hub.sio), ws_ping_interval=None, access_log=False,
                            ws_per_message_deflate=False)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    url = f"http://127.0.0.1:{port}"

    async def hold(count: int) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            "node", str(HERE / "loadgen.mjs"), json.dumps({"mode": "idle", "url": url, "secret": secret,
                                                           "connections": count}),
            cwd=HERE, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        line = await proc.stdout.readline()
        print("loadgen:", line.decode().strip(), file=sys.stderr)
        return proc

    async def release(proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None
        proc.stdin.write(b"done\n")
        await proc.stdin.drain()
        await proc.wait()

    await release(await hold(100))  # warm-up
    await asyncio.sleep(2)
    if not args.no_trace:
        tracemalloc.start(args.frames)
    gc.collect()
    tasks_before = len(asyncio.all_tasks())
    objects_before = census()
    rss_before = rss_kib()
    snap_before = tracemalloc.take_snapshot() if not args.no_trace else None
    proc = await hold(args.connections)
    await asyncio.sleep(3)
    gc.collect()
    n = args.connections
    rss_after = rss_kib()
    tasks_after = len(asyncio.all_tasks())
    objects_after = census()
    print(f"connections {n}: RSS {(rss_after - rss_before) / n:.1f} KiB/conn; tasks {(tasks_after - tasks_before) / n:.2f}/conn")
    print("objects per connection (top):")
    for name, count in (objects_after - objects_before).most_common(args.top):
        print(f"  {count / n:7.2f}  {name}")
    task_names = collections.Counter(
        getattr(t.get_coro(), "__qualname__", "?") for t in asyncio.all_tasks())
    print("tasks by coroutine:", dict(task_names.most_common(10)))
    if snap_before is not None:
        snap = tracemalloc.take_snapshot()
        stats = snap.compare_to(snap_before, "traceback")
        total = sum(s.size_diff for s in stats)
        print(f"traced: {total / n / 1024:.1f} KiB/conn")
        print("by line:")
        for stat in snap.compare_to(snap_before, "lineno")[: args.top]:
            frame = stat.traceback[0]
            print(f"{stat.size_diff / n:8.0f} B/conn {stat.count_diff / n:6.2f}  {frame.filename.split('site-packages/')[-1]}:{frame.lineno}")
        for stat in stats[: args.top]:
            print(f"{stat.size_diff / n:8.0f} B/conn  {stat.count_diff / n:6.2f} blocks/conn")
            for frame in stat.traceback.format()[-2 * min(args.frames, 4):]:
                print("      " + frame)
        tracemalloc.stop()
    await release(proc)
    server.should_exit = True
    await serving


if __name__ == "__main__":
    asyncio.run(main())
