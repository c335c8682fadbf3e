"""Online state and last seen across restarts of the hub, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from hub.testing import RunningHub, start_hub

from .support import FAST, connect, leave_cleanly


async def states(hub: RunningHub, *users: str) -> dict[str, dict[str, Any]]:
    async with hub.http() as http:
        response = await http.get("/api/presence/users", params={"ids": ",".join(users)}, headers=hub.headers("viewer", ()))
    assert response.status_code == 200, response.text
    return {state["user"]: state for state in response.json()["users"]}


async def until_offline(hub: RunningHub, user: str, timeout: float = 5.0) -> dict[str, Any]:
    """The user's state once the hub reports them offline (it handles a disconnect a moment later)."""
    deadline = time.monotonic() + timeout
    while (state := (await states(hub, user))[user])["online"] and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert state["online"] is False, state
    return state


async def test_last_seen_survives_a_restart(tmp_path: Path, database_url: str) -> None:
    hub = start_hub(tmp_path / "hub", env={**FAST, "HUB_DATABASE_URL": database_url})
    try:
        alice = await connect(hub, "alice")
        assert (await states(hub, "alice"))["alice"]["online"] is True
        await leave_cleanly(alice)
        alice_seen = (await until_offline(hub, "alice"))["last_seen"]
        assert alice_seen is not None

        bob = await connect(hub, "bob")
        bob_online = (await states(hub, "bob"))["bob"]
        assert bob_online["online"] is True and bob_online["last_seen"] > alice_seen

        hub.stop()  # SIGTERM, with bob still connected: he was last seen as the hub stopped
        await asyncio.wait_for(bob.disconnected.wait(), 10)
        hub.start()
        after = await states(hub, "alice", "bob", "nobody")
        assert after["alice"] == {"user": "alice", "online": False, "last_seen": alice_seen}
        assert after["bob"]["online"] is False and after["bob"]["last_seen"] >= bob_online["last_seen"]
        assert after["nobody"] == {"user": "nobody", "online": False, "last_seen": None}

        # A crash loses nothing older than the user's coming online.
        carol = await connect(hub, "carol")
        carol_online = (await states(hub, "carol"))["carol"]
        hub.kill()
        await asyncio.wait_for(carol.disconnected.wait(), 10)
        hub.start()
        carol_after = (await states(hub, "carol"))["carol"]
        assert carol_after["online"] is False
        assert carol_after["last_seen"] is not None and carol_after["last_seen"] <= carol_online["last_seen"]
        assert (await states(hub, "alice"))["alice"]["last_seen"] == alice_seen
    finally:
        hub.stop()
