"""Helpers of the presence tests: a hub with the gate plugin, and clients that drop uncleanly."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from socketio import packet

from hub.testing import RunningHub, SocketRecorder

HERE = Path(__file__).parent

# Small timings so the tests are quick; every test of a module shares one hub.
FAST = {
    "HUB_PLUGIN_PRESENCE_GRACE_SECONDS": "1.5",
    "HUB_PLUGIN_PRESENCE_TYPING_TIMEOUT_SECONDS": "1",
    "HUB_PLUGIN_PRESENCE_TYPING_THROTTLE_MS": "600",
}


def gate_site(target: Path) -> Path:
    """A directory that, on a hub's PYTHONPATH, installs the plugin ``presence_gate``.

    The module and a minimal ``.dist-info`` with its entry point, as
    tests/support.plugin_site does for the modules of tests/support.
    """
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "presence_gate.py", target / "presence_gate.py")
    info = target / "presence_gate-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: presence_gate\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[hub.plugins]\npresence_gate = presence_gate\n")
    return target


def gated_env(site: Path, chats: Mapping[str, list[str]], **extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return {**FAST, "PYTHONPATH": path, "PRESENCE_GATE_CHATS": json.dumps(dict(chats)), **extra}


async def connect(hub: RunningHub, user: str, name: str | None = None, roles: tuple[str, ...] = ()) -> SocketRecorder:
    client = await SocketRecorder().connect(hub, hub.token(user, roles, name=name))
    await client.wait_for("hub.welcome")
    return client


async def join(client: SocketRecorder, room: str) -> dict[str, Any]:
    reply = await client.call("subscribe", {"topic": f"presence:{room}"})
    assert reply["ok"], reply
    return reply


def names(reply: dict[str, Any]) -> dict[str, int]:
    """``{user: connections}`` of a subscribe reply's snapshot."""
    return {member["user"]: member["connections"] for member in reply["snapshot"]["members"]}


async def drop(client: SocketRecorder) -> None:
    """Close the client's websocket without a Socket.IO or Engine.IO goodbye, as a lost network would.

    The server sees the transport close (disconnect reason ``lost``); the
    client's read loop notices and cleans up after itself.
    """
    await client.sio.eio.ws.close()
    await asyncio.wait_for(client.disconnected.wait(), 10)


async def leave_cleanly(client: SocketRecorder) -> None:
    """Disconnect the way the hub sees as clean (reason ``client``).

    python-socketio 5.x's ``disconnect()`` queues the Socket.IO DISCONNECT
    packet and then closes the websocket without waiting for it to be written,
    so the server usually sees only the transport close (reason ``lost``).
    Here the packet is sent and flushed first.
    """
    await client.sio._send_packet(client.sio.packet_class(packet.DISCONNECT, namespace="/"))
    await client.sio.eio.queue.join()
    await client.close()


def events(client: SocketRecorder, type: str, room: str) -> list[dict[str, Any]]:
    return [event["data"] for event in client.of_type(type) if event["topic"] == f"presence:{room}"]


async def barrier(watcher: SocketRecorder, room: str, newcomer: SocketRecorder, user: str) -> None:
    """``user`` joins ``room`` and ``watcher`` sees it.

    Events from the hub reach a client in order, so whatever the hub sent
    ``watcher`` before has arrived by then: a test can check what did not happen.
    """
    await join(newcomer, room)
    await watcher.wait_for("presence.joined", where=lambda e: e["topic"] == f"presence:{room}" and e["data"]["user"] == user)
