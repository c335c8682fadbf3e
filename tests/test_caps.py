"""Caps on what one connection and one user hold (issue 15, item 9).

``HUB_MAX_SUBSCRIPTIONS`` per connection (its own inbox not counted) and
``HUB_MAX_CONNECTIONS_PER_USER`` (the role ``service`` exempt): past them a
subscribe, or a handshake, is refused with ``limit_exceeded``; what the client
already holds keeps working.
"""

from __future__ import annotations

import asyncio

import pytest

from hub.limits import UserConnections
from hub.auth import Principal
from hub.testing import RunningHub, SocketRecorder, connect_refused, start_hub, welcomed


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory):
    running = start_hub(
        tmp_path_factory.mktemp("caps"), env={"HUB_MAX_SUBSCRIPTIONS": "3", "HUB_MAX_CONNECTIONS_PER_USER": "2"}
    )
    yield running
    running.stop()


connect = welcomed  # a client that has received hub.welcome


async def test_a_connection_past_its_subscription_cap_is_refused_and_keeps_the_others(hub: RunningHub) -> None:
    # An admin may follow other users' inboxes: durable topics a service can publish to over HTTP.
    watcher = await connect(hub, "watcher", ("admin",))
    try:
        for n in (1, 2, 3):
            assert (await watcher.call("subscribe", {"topic": f"user:w{n}"}))["ok"] is True
        refused = await watcher.call("subscribe", {"topic": "user:w4"})
        assert refused["ok"] is False and refused["error"]["code"] == "limit_exceeded"
        assert "HUB_MAX_SUBSCRIPTIONS" in refused["error"]["message"]
        # A plugin's kind counts alike.
        refused = await watcher.call("subscribe", {"topic": "presence:lobby"})
        assert refused["ok"] is False and refused["error"]["code"] == "limit_exceeded"
        # Subscribing again to a topic it follows (to resume with `since`) costs nothing more.
        assert (await watcher.call("subscribe", {"topic": "user:w1", "since": 0}))["ok"] is True
        # The inbox is not counted, and it and the three others still deliver.
        await hub.publish("user:w2", "still.here", {"n": 2})
        await hub.publish("user:watcher", "still.here", {"n": 0})
        await watcher.wait_for("still.here", lambda data: data["topic"] == "user:w2")
        await watcher.wait_for("still.here", lambda data: data["topic"] == "user:watcher")
        # Freeing one lets another in.
        assert (await watcher.call("unsubscribe", {"topic": "user:w3"}))["ok"] is True
        assert (await watcher.call("subscribe", {"topic": "user:w4"}))["ok"] is True
        # The cap is per connection: another connection of the same user starts at none.
        other = await connect(hub, "watcher", ("admin",))
        try:
            assert (await other.call("subscribe", {"topic": "user:w9"}))["ok"] is True
        finally:
            await other.close()
    finally:
        await watcher.close()


async def test_a_user_past_the_connection_cap_is_refused_at_the_handshake(hub: RunningHub) -> None:
    first, second = await connect(hub, "carl"), await connect(hub, "carl")
    try:
        error = await connect_refused(hub, token=hub.token("carl"))
        assert error["code"] == "limit_exceeded" and "HUB_MAX_CONNECTIONS_PER_USER" in error["message"]
        # The two held are untouched; another user is not affected.
        await hub.publish("user:carl", "still.here", {})
        await first.wait_for("still.here")
        await second.wait_for("still.here")
        await (await connect(hub, "dora")).close()
        # Closing one frees a place (the server counts it down when it sees the disconnect).
        await first.close()
        for _ in range(50):
            try:
                third = await connect(hub, "carl")
                break
            except Exception:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("a connection closed did not free its place")
        await third.close()
    finally:
        await first.close()
        await second.close()


async def test_the_role_service_is_not_capped(hub: RunningHub) -> None:
    clients = [await connect(hub, "backend", ("service",)) for _ in range(4)]
    try:
        assert all(client.sio.connected for client in clients)
    finally:
        for client in clients:
            await client.close()


def test_zero_means_no_cap() -> None:
    connections = UserConnections(0)
    principal = Principal(user="eve")
    for n in range(1000):
        connections.admit(f"c{n}", principal)
    assert connections.held("eve") == 0  # not even counted
