"""Several hub processes on one Redis and one PostgreSQL database, for tests of what crosses processes.

:class:`Pair` runs two real ``hub serve`` processes sharing Redis (fan-out and
presence) and a PostgreSQL database; :class:`RedisServer` is a ``redis-server``
of a test's own that it can stop and start. The fixtures ``redis_url``,
``own_redis`` and ``pair`` (tests/conftest.py) are made from them. Each
:class:`Pair` uses its own channel and key prefix (``HUB_REDIS_PREFIX``), so
tests sharing a Redis never hear each other.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hub.testing import RunningHub, SocketRecorder, free_port
from tests.support import plugin_site

REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
GRACE = 1.5


def consecutive_free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports, below the kernel's range for outgoing connections.

    ``hub serve --workers N`` listens on N consecutive ports. A port from
    ``free_port()`` comes from the ephemeral range, where the next port up is
    often taken meanwhile as the source port of an outgoing connection (the
    first worker's to PostgreSQL and Redis), and the second worker cannot bind.
    """
    low = 32768
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    for _ in range(200):
        first = random.randrange(max(1024, low - 12000), low - count)
        probes = [socket.socket() for _ in range(count)]
        try:
            for offset, probe in enumerate(probes):
                probe.bind(("127.0.0.1", first + offset))
            return first
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError(f"no {count} consecutive free ports below {low}")


def ping_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


class RedisServer:
    """A ``redis-server`` of the test's own, on a free port, that the test can stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                ping_redis(self.url)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Pair:
    """Two hub processes, A and B, on one Redis and one PostgreSQL database, with one secret."""

    def __init__(self, tmp_path: Path, redis_url: str, database_url: str, sites: Sequence[Path] = (), **env: str) -> None:
        """``sites`` go first on both processes' PYTHONPATH (a ``sitecustomize``: :func:`tests.support.patch_site`)."""
        site = plugin_site(tmp_path / "site", "hub_feed", "feed")
        self.prefix = f"test-{secrets.token_hex(6)}"
        self.redis_url = redis_url
        secret = secrets.token_urlsafe(32)
        self.env = {
            "HUB_DATABASE_URL": database_url,
            "HUB_REDIS_URL": redis_url,
            "HUB_REDIS_PREFIX": self.prefix,
            "HUB_JWT_SECRET": secret,
            "HUB_BROKER_PROBE_INTERVAL": "0.25",
            "HUB_PLUGIN_PRESENCE_GRACE_SECONDS": str(GRACE),
            "HUB_PLUGIN_PRESENCE_TYPING_THROTTLE_MS": "0",
            "PYTHONPATH": os.pathsep.join(filter(None, [*map(str, sites), str(site), os.environ.get("PYTHONPATH")])),
            **env,
        }
        self.hubs: list[RunningHub] = []
        self.clients: list[SocketRecorder] = []
        self.tmp_path = tmp_path
        self.secret = secret

    def start(self, name: str) -> RunningHub:
        hub = RunningHub(self.tmp_path / name, {**self.env, "HUB_INSTANCE_ID": name})
        hub.secret = self.secret
        self.hubs.append(hub.start())
        return hub

    async def connect(self, hub: RunningHub, user: str, name: str | None = None) -> SocketRecorder:
        client = await SocketRecorder().connect(hub, hub.token(user, name=name))
        self.clients.append(client)
        await client.wait_for("hub.welcome")
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        for hub in self.hubs:
            hub.stop()
        forget_prefix(self.redis_url, self.prefix)


def forget_prefix(url: str, prefix: str) -> None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        try:
            keys = list(client.scan_iter(f"{prefix}:*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
    except Exception:
        pass  # the outage test's own Redis is gone already


async def health(hub: RunningHub) -> tuple[int, dict[str, Any]]:
    async with hub.http() as http:
        response = await http.get("/api/health")
    return response.status_code, response.json()


async def metric(hub: RunningHub, name: str) -> float:
    async with hub.http() as http:
        text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


async def eventually(check: Any, timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll ``await check()`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: last result {result!r}")
        await asyncio.sleep(interval)
