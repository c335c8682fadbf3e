"""Test helpers and a pytest plugin: a real hub on a loopback port, and real clients.

Plugin authors get a running hub and a connected client in two lines::

    async def test_my_plugin(hub_server, hub_socket):
        client = await hub_socket("alice")

``hub_server`` is a real ``hub serve`` process (uvicorn on a free port, a
SQLite file in a temporary directory, a random secret); ``start_hub`` starts
one with any settings. ``SocketRecorder`` is a python-socketio client that
records every event it receives and lets a test wait for one.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from .auth import mint_token

DEFAULT_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningHub:
    """A ``hub serve`` subprocess on 127.0.0.1, with what a test needs to talk to it."""

    def __init__(self, data_dir: Path, env: Mapping[str, str] | None = None, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.secret = secrets.token_urlsafe(32)
        self.env: dict[str, str] = {
            "HUB_JWT_SECRET": self.secret,
            "HUB_DATA_DIR": str(self.data_dir),
            "HUB_DATABASE_URL": os.environ.get("HUB_TEST_DATABASE_URL")
            or f"sqlite+aiosqlite:///{self.data_dir / 'hub.db'}",
            "HUB_LOG_LEVEL": "warning",
        }
        self.env.update(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.cwd: Path | None = None
        self.log_path = self.data_dir / f"hub-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> RunningHub:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
        env.update(self.env)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hub exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1.0).status_code in (200, 503):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"hub did not answer within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """Stop at once with SIGKILL, as a crash would."""
        self.stop(signal.SIGKILL)

    def token(self, sub: str, roles: Sequence[str] = (), name: str | None = None, ttl: float = 3600, **claims: Any) -> str:
        return mint_token(self.secret, sub, roles, name=name, ttl=ttl, **claims)

    def headers(self, sub: str = "svc", roles: Sequence[str] = ("service",)) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(sub, roles)}"}

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=DEFAULT_TIMEOUT)

    async def publish(self, topic: str, type: str, data: dict[str, Any] | None = None, **body: Any) -> dict[str, Any]:
        """``POST /api/publish`` as a service; the parsed ``{id, seq}``."""
        async with self.http() as http:
            response = await http.post(
                "/api/publish", json={"topic": topic, "type": type, "data": data or {}, **body}, headers=self.headers()
            )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


class ServedHub(RunningHub):
    """A hub built with :func:`hub.app.create_app` and served by uvicorn in the test's own process.

    Several may run side by side (two hubs in one process); ``.app.hub`` is the
    live hub, for checks a subprocess cannot offer. Use it as
    ``async with ServedHub(tmp_path) as hub: ...``.
    """

    def __init__(self, data_dir: Path, env: Mapping[str, str] | None = None, port: int | None = None) -> None:
        super().__init__(data_dir, env, port)
        self.app: Any = None
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ServedHub:
        import uvicorn

        from .app import create_app
        from .config import load_settings
        from ._compat import http_protocol, websocket_protocol

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.app = create_app(load_settings(environ=self.env))
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning",
            http=http_protocol(self.app.hub.sio), ws=websocket_protocol(self.app.hub.sio), ws_ping_interval=None, lifespan="on", access_log=False, timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.get_running_loop().create_task(self._server.serve())
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while not self._server.started:
            if self._task.done() or time.monotonic() > deadline:
                await self.__aexit__()
                raise RuntimeError(f"the hub on port {self.port} did not start")
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._task, DEFAULT_TIMEOUT)


class SocketRecorder:
    """A python-socketio client that keeps every event it receives, in order."""

    def __init__(self, **client_options: Any) -> None:
        self.sio = socketio.AsyncClient(reconnection=False, **client_options)
        self.events: list[tuple[str, Any]] = []
        self.connect_error: Any = None
        self.disconnected = asyncio.Event()
        self._changed = asyncio.Condition()
        self.sio.on("*", self._record)
        self.sio.on("connect_error", self._on_connect_error)
        self.sio.on("disconnect", self._on_disconnect)

    async def _record(self, event: str, *args: Any) -> None:
        async with self._changed:
            self.events.append((event, args[0] if len(args) == 1 else list(args)))
            self._changed.notify_all()

    async def _on_connect_error(self, data: Any) -> None:
        self.connect_error = data

    async def _on_disconnect(self, *args: Any) -> None:
        self.disconnected.set()

    async def connect(
        self, hub: RunningHub, token: str | None = None, transport: str = "websocket",
        headers: dict[str, str] | None = None, auth: Any = None, query: str = "",
    ) -> SocketRecorder:
        await self.sio.connect(
            hub.url + (f"?{query}" if query else ""),
            auth=auth if auth is not None else ({"token": token} if token else None),
            headers=headers or {},
            transports=[transport],
            wait_timeout=DEFAULT_TIMEOUT,
        )
        return self

    async def call(self, event: str, payload: Any, timeout: float = DEFAULT_TIMEOUT) -> Any:
        return await self.sio.call(event, payload, timeout=timeout)

    async def wait_for(
        self, type: str, where: Callable[[Any], bool] = lambda data: True, timeout: float = DEFAULT_TIMEOUT, count: int = 1
    ) -> list[Any]:
        """The first ``count`` received events of ``type`` matching ``where``, waiting up to ``timeout``."""

        def matching() -> list[Any]:
            return [data for event, data in self.events if event == type and where(data)]

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(matching()) >= count), timeout)
            return matching()[:count]

    def of_type(self, type: str) -> list[Any]:
        return [data for event, data in self.events if event == type]

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


async def welcomed(
    hub: RunningHub, user: str, roles: Sequence[str] = (), transport: str = "websocket"
) -> SocketRecorder:
    """A :class:`SocketRecorder` connected as ``user`` (with ``roles``) that has received ``hub.welcome``."""
    client = await SocketRecorder().connect(hub, hub.token(user, roles), transport=transport)
    await client.wait_for("hub.welcome")
    return client


async def connect_refused(hub: RunningHub, **kwargs: Any) -> Any:
    """Try to connect; the ``connect_error`` data (fails the test if the connection was accepted)."""
    recorder = SocketRecorder()
    try:
        await recorder.connect(hub, **kwargs)
    except socketio.exceptions.ConnectionError as exc:
        return recorder.connect_error if recorder.connect_error is not None else str(exc)
    await recorder.close()
    raise AssertionError("the connection was accepted")


# The pytest plugin ------------------------------------------------------------


def start_hub(tmp_path: Path, env: Mapping[str, str] | None = None, port: int | None = None) -> RunningHub:
    """Start a hub with ``env`` settings in ``tmp_path``; stop it with ``.stop()``."""
    return RunningHub(tmp_path, env, port).start()


@pytest.fixture
def hub_server(tmp_path: Path) -> Iterator[RunningHub]:
    """A running hub with default settings and every installed plugin."""
    hub = start_hub(tmp_path / "hub")
    yield hub
    hub.stop()


@pytest.fixture
async def hub_socket(hub_server: RunningHub) -> AsyncIterator[Callable[..., Any]]:
    """``await hub_socket("alice", roles=[...])``: a connected :class:`SocketRecorder` for that user."""
    clients: list[SocketRecorder] = []

    async def connect(user: str, roles: Sequence[str] = (), **kwargs: Any) -> SocketRecorder:
        client = await SocketRecorder().connect(hub_server, hub_server.token(user, roles), **kwargs)
        clients.append(client)
        await client.wait_for("hub.welcome")
        return client

    yield connect
    for client in clients:
        await client.close()
