"""Helpers for the notifications tests."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from hub.testing import RunningHub, SocketRecorder

HERE = Path(__file__).parent


def caller_site(target: Path) -> str:
    """A PYTHONPATH value that installs the fixture plugin ``caller`` (hub_notify_caller) in a hub."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "hub_notify_caller.py", target / "hub_notify_caller.py")
    info = target / "hub_notify_caller-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hub-notify-caller\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[hub.plugins]\ncaller = hub_notify_caller\n")
    return os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))


async def connect(hub: RunningHub, user: str, roles: Sequence[str] = ()) -> SocketRecorder:
    client = await SocketRecorder().connect(hub, hub.token(user, roles))
    await client.wait_for("hub.welcome")
    return client


async def notify(hub: RunningHub, body: dict[str, Any], roles: Sequence[str] = ("service",)) -> Any:
    """``POST /api/notifications``; the response."""
    async with hub.http() as http:
        return await http.post("/api/notifications", json=body, headers=hub.headers("svc", roles), timeout=120)


async def mine(hub: RunningHub, user: str, query: str = "") -> dict[str, Any]:
    """``GET /api/notifications`` as ``user``; the parsed page."""
    async with hub.http() as http:
        response = await http.get(f"/api/notifications{query}", headers=hub.headers(user, ()))
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def mark_read(hub: RunningHub, user: str, body: dict[str, Any]) -> Any:
    async with hub.http() as http:
        return await http.post("/api/notifications/read", json=body, headers=hub.headers(user, ()))


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Poll ``check`` until it holds, failing after ``timeout`` seconds (for background work)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.1)
