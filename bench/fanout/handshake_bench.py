"""Server CPU per websocket opening handshake, alone: uvicorn and the hub's websocket protocol, a trivial app.

    flock /tmp/hub-bench.lock .venv/bin/python bench/fanout/handshake_bench.py --count 5000

For each mode it starts uvicorn (pinned to CPU 0) serving an ASGI app that
accepts every websocket, and connects ``--count`` raw clients (CPU 1, ten at a
time) that send the upgrade request Node's ``ws`` sends, read the 101 and
leave. It prints the server's CPU per handshake, for:

- ``websockets``: the hub's light protocol with websockets' handshake (what
  runs when ``light_ws_handshake`` is off);
- ``light``: the light handshake, behind uvicorn's own HTTP protocol;
- ``light+http``: the light handshake handed the parsed request by
  the hub's HTTP protocol (:func:`hub._compat.uvicorn_http.protocol_class`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from typing import Any

REQUEST = (
    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nHost: 127.0.0.1:{port}\r\n\r\n"
)
MODES = ("websockets", "light", "light+http")


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await receive()


def serve(port: int, mode: str) -> None:
    import uvicorn

    from hub._compat import uvicorn as compat

    ws = compat.protocol_class(handshake=mode != "websockets")
    http: Any = "auto"
    if mode == "light+http":
        from hub._compat.uvicorn_http import protocol_class

        http = protocol_class(direct_publish=False, light_upgrade=True)
    uvicorn.run(app, host="127.0.0.1", port=port, ws=ws, http=http, lifespan="off", log_level="warning",
                ws_ping_interval=None, ws_per_message_deflate=False, access_log=False)


async def clients(port: int, count: int) -> None:
    request = REQUEST.replace("{port}", str(port)).encode()
    slots = asyncio.Semaphore(10)

    async def one() -> None:
        async with slots:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101 "), head
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(one() for _ in range(count)))


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(mode: str, count: int) -> float:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(["taskset", "-c", "0", sys.executable, __file__, "--serve", str(port), mode])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        asyncio.run(clients(port, 500))  # warm up
        before = cpu_seconds(server.pid)
        asyncio.run(clients(port, count))
        return (cpu_seconds(server.pid) - before) * 1e6 / count
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return
    os.sched_setaffinity(0, {1})
    results: dict[str, list[float]] = {mode: [] for mode in args.modes}
    for _ in range(args.rounds):
        for mode in args.modes:
            results[mode].append(measure(mode, args.count))
    for mode, values in results.items():
        shown = ", ".join(f"{value:.0f}" for value in values)
        print(f"{mode:>11}: {sum(values) / len(values):5.0f} µs server CPU per handshake ({shown})")


if __name__ == "__main__":
    main()
