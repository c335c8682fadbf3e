"""Presence rooms against a running hub: members, joins and leaves, the grace period, the restricting hook.

One hub for the module, with short timings (support.FAST) and the test plugin
presence_gate, which admits only alice and bob to ``presence:chat-7``.
Where a test checks that something did *not* happen, it makes something else
happen afterwards (another user joins) and waits for that: events from the
hub reach a client in order, so anything sent before it has arrived by then.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.testing import RunningHub, start_hub

from .support import FAST, barrier, connect, drop, events, gate_site, gated_env, join, leave_cleanly, names

GRACE = float(FAST["HUB_PLUGIN_PRESENCE_GRACE_SECONDS"])


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    root = tmp_path_factory.mktemp("presence-rooms")
    running = start_hub(root / "hub", env=gated_env(gate_site(root / "site"), {"7": ["alice", "bob"]}))
    yield running
    running.stop()


async def test_a_user_with_several_tabs_is_one_member(clients: Any) -> None:
    alice1 = await clients("alice", "Alice")
    reply = await join(alice1, "lobby")
    assert reply["snapshot"]["members"] == [
        {"user": "alice", "name": "Alice", "connections": 1, "since": reply["snapshot"]["members"][0]["since"]}
    ]

    bob = await clients("bob")
    assert names(await join(bob, "lobby")) == {"alice": 1, "bob": 1}
    joined = (await alice1.wait_for("presence.joined"))[0]
    assert joined["seq"] is None and joined["data"]["user"] == "bob" and joined["data"]["name"] is None

    # A second tab: counted, not announced.
    alice2 = await clients("alice", "Alice")
    assert names(await join(alice2, "lobby")) == {"alice": 2, "bob": 1}
    await barrier(bob, "lobby", await clients("carol"), "carol")
    assert [e["user"] for e in events(bob, "presence.joined", "lobby")] == ["carol"]

    # One tab leaves (unsubscribe): alice is still there.
    assert (await alice1.call("unsubscribe", {"topic": "presence:lobby"}))["ok"]
    await barrier(bob, "lobby", await clients("dave"), "dave")
    assert events(bob, "presence.left", "lobby") == []
    assert names(await join(await clients("erin"), "lobby"))["alice"] == 1

    # The last tab disconnects cleanly: alice leaves at once, no grace period.
    started = time.monotonic()
    await leave_cleanly(alice2)
    left = await bob.wait_for("presence.left")
    assert time.monotonic() - started < GRACE
    assert left[0]["data"] == {"user": "alice"} and left[0]["seq"] is None
    await barrier(bob, "lobby", await clients("frank"), "frank")
    assert events(bob, "presence.left", "lobby") == [{"user": "alice"}]
    assert "alice" not in names(await join(await clients("gina"), "lobby"))
    # A user is never told of their own joining: each connection has the snapshot.
    assert [e["user"] for e in events(alice1, "presence.joined", "lobby")] == ["bob", "carol"]
    assert "alice" not in [e["user"] for e in events(alice2, "presence.joined", "lobby")]


async def test_a_reconnect_within_the_grace_period_emits_nothing(hub: RunningHub, clients: Any) -> None:
    bob = await clients("bob")
    await join(bob, "grace")
    alice = await connect(hub, "alice")
    await join(alice, "grace")
    await bob.wait_for("presence.joined", where=lambda e: e["data"]["user"] == "alice")

    await drop(alice)
    # Within the grace period alice is still a member...
    assert names(await join(await clients("carol"), "grace")) == {"alice": 1, "bob": 1, "carol": 1}
    # ...and her new connection takes the lost one's place.
    alice_again = await clients("alice")
    assert names(await join(alice_again, "grace")) == {"alice": 1, "bob": 1, "carol": 1}

    await asyncio.sleep(GRACE + 0.3)  # the grace period is a timer: let the lost connection's run out
    await barrier(bob, "grace", await clients("dave"), "dave")
    assert events(bob, "presence.left", "grace") == []
    assert [e["user"] for e in events(bob, "presence.joined", "grace")] == ["alice", "carol", "dave"]
    assert names(await join(await clients("erin"), "grace"))["alice"] == 1

    # Lost and not back: alice leaves once the grace period is over.
    started = time.monotonic()
    await drop(alice_again)
    left = await bob.wait_for("presence.left", where=lambda e: e["data"]["user"] == "alice")
    elapsed = time.monotonic() - started
    assert GRACE * 0.9 <= elapsed < GRACE + 3, elapsed
    assert left[0]["topic"] == "presence:grace"


async def test_unsubscribing_leaves_at_once(clients: Any) -> None:
    alice, bob = await clients("alice"), await clients("bob")
    await join(bob, "quick")
    await join(alice, "quick")
    started = time.monotonic()
    assert (await alice.call("unsubscribe", {"topic": "presence:quick"}))["ok"]
    await bob.wait_for("presence.left", where=lambda e: e["data"]["user"] == "alice")
    assert time.monotonic() - started < GRACE


async def test_the_hook_restricts_who_may_join(clients: Any) -> None:
    alice, bob, mallory = await clients("alice"), await clients("bob"), await clients("mallory")
    await join(alice, "chat-7")
    refused = await mallory.call("subscribe", {"topic": "presence:chat-7"})
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden"
    refused = await mallory.call("presence.typing", {"room": "chat-7", "typing": True})
    assert refused["error"]["code"] == "forbidden"
    assert names(await join(bob, "chat-7")) == {"alice": 1, "bob": 1}
    # Other rooms keep the default: any authenticated user.
    assert names(await join(mallory, "open-8")) == {"mallory": 1}
    await alice.wait_for("presence.joined", where=lambda e: e["data"]["user"] == "bob")
    assert [e["user"] for e in events(alice, "presence.joined", "chat-7")] == ["bob"]


async def test_online_state_over_http(hub: RunningHub, clients: Any) -> None:
    olga = await connect(hub, "olga")
    await clients("pete")
    async with hub.http() as http:
        response = await http.get("/api/presence/users", params={"ids": "olga,pete,nobody-yet"}, headers=hub.headers("pete", ()))
        assert response.status_code == 200
        users = response.json()["users"]
        assert [(u["user"], u["online"]) for u in users] == [("olga", True), ("pete", True), ("nobody-yet", False)]
        assert users[2]["last_seen"] is None

        await leave_cleanly(olga)  # a clean disconnect: offline at once, last seen then
        olga_state = await until_offline(http, hub, "olga")
        assert olga_state["last_seen"] >= users[0]["last_seen"]


async def until_offline(http: Any, hub: RunningHub, user: str, timeout: float = 5.0) -> dict[str, Any]:
    """The user's state once the hub reports them offline (it handles the disconnect a moment later)."""
    deadline = time.monotonic() + timeout
    while True:
        response = await http.get("/api/presence/users", params={"ids": user}, headers=hub.headers("x", ()))
        (state,) = response.json()["users"]
        if not state["online"] or time.monotonic() > deadline:
            assert state["online"] is False, state
            return dict(state)
        await asyncio.sleep(0.05)


async def test_the_users_route_checks_its_input(hub: RunningHub) -> None:
    async with hub.http() as http:
        response = await http.get("/api/presence/users?ids=alice")
        assert response.status_code == 401 and response.json()["error"]["code"] == "auth_required"
        headers = hub.headers("alice", ())
        for query in ("", "?ids=", "?ids=,,", "?ids=" + ",".join(f"u{i}" for i in range(101))):
            response = await http.get("/api/presence/users" + query, headers=headers)
            assert response.status_code == 400, query
            assert response.json()["error"]["code"] == "invalid_message"
        response = await http.get("/api/presence/users?ids=a&ids=b,a", headers=headers)
        assert [u["user"] for u in response.json()["users"]] == ["a", "b"]


def test_a_bad_setting_stops_the_start_naming_it(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="plugin 'presence': setting 'grace_seconds' must be a number, got 'soon'"):
        start_hub(tmp_path, env={"HUB_PLUGIN_PRESENCE_GRACE_SECONDS": "soon"})
