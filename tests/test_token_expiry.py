"""A token expiring while connected: the notice, the refresh, and the disconnection.

The hub runs with no leeway and a 2 s notice, and each test connects with a
token that expires in about 3 s. Waiting past that expiry is the point of some
tests; everything else waits on events with a timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hub.testing import RunningHub, SocketRecorder, start_hub

NOTICE = 2.0
TTL = 3.0
# Generous bounds for a loaded machine; the assertions on timing are one-sided.
SLACK = 5.0


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    running = start_hub(
        tmp_path_factory.mktemp("expiry"), env={"HUB_JWT_LEEWAY": "0", "HUB_TOKEN_EXPIRING_NOTICE": str(NOTICE)}
    )
    yield running
    running.stop()


async def connect_expiring(hub: RunningHub, sub: str, ttl: float = TTL) -> tuple[SocketRecorder, float]:
    """A client whose token expires ``ttl`` seconds from now, and that expiry."""
    exp = time.time() + ttl
    client = await SocketRecorder().connect(hub, hub.token(sub, exp=exp))
    await client.wait_for("hub.welcome")
    return client, exp


async def test_unrefreshed_token_gets_notice_then_auth_expired_and_disconnect(hub: RunningHub) -> None:
    client, exp = await connect_expiring(hub, "alice")
    try:
        notice = (await client.wait_for("hub.token_expiring", timeout=TTL + SLACK))[0]
        noticed_at = time.time()
        assert noticed_at >= exp - NOTICE - 0.5
        assert noticed_at < exp, "the notice must come before the token expires"
        assert notice["topic"] == "user:alice"
        assert "expires_at" in notice["data"]
        assert client.sio.connected

        error = (await client.wait_for("hub.error", timeout=NOTICE + SLACK))[0]
        assert error["data"]["code"] == "auth_expired"
        assert isinstance(error["data"]["message"], str) and "Traceback" not in error["data"]["message"]
        assert time.time() >= exp - 0.1, "disconnected before the token expired"
        await asyncio.wait_for(client.disconnected.wait(), SLACK)
        assert not client.sio.connected
    finally:
        await client.close()


async def test_refreshed_connection_outlives_the_old_token(hub: RunningHub) -> None:
    client, exp = await connect_expiring(hub, "bob")
    try:
        await client.wait_for("hub.token_expiring", timeout=TTL + SLACK)
        reply = await client.call("auth.refresh", {"token": hub.token("bob", ttl=600)})
        assert reply["ok"] is True, reply
        assert isinstance(reply["expires_at"], str) and reply["expires_at"].endswith("Z")

        # The point of this test is the old expiry passing: wait past it.
        await asyncio.sleep(max(0.0, exp - time.time()) + 1.0)
        assert client.sio.connected
        assert client.of_type("hub.error") == []
        # Only the one notice, for the old token.
        assert len(client.of_type("hub.token_expiring")) == 1

        # Still receiving: a service publishes to bob's inbox and it arrives.
        published = await hub.publish("user:bob", "test.after_refresh", {"n": 1})
        await client.wait_for("test.after_refresh", lambda event: event["id"] == published["id"])
        assert client.sio.connected
    finally:
        await client.close()


async def test_refreshed_connection_gets_a_new_notice_and_expiry(hub: RunningHub) -> None:
    # Refresh with another short token: the hub now watches the new expiry.
    client, first_exp = await connect_expiring(hub, "carol")
    try:
        await client.wait_for("hub.token_expiring", timeout=TTL + SLACK)
        second_exp = first_exp + 2.0
        reply = await client.call("auth.refresh", {"token": hub.token("carol", exp=second_exp)})
        assert reply["ok"] is True, reply
        await client.wait_for("hub.token_expiring", count=2, timeout=TTL + SLACK)
        error = (await client.wait_for("hub.error", timeout=TTL + SLACK))[0]
        assert error["data"]["code"] == "auth_expired"
        assert time.time() >= second_exp - 0.1, "closed on the old expiry, not the refreshed one"
        await asyncio.wait_for(client.disconnected.wait(), SLACK)
    finally:
        await client.close()


async def refresh_reply(hub: RunningHub, sub: str, payload: dict[str, Any]) -> tuple[SocketRecorder, dict[str, Any]]:
    client = await SocketRecorder().connect(hub, hub.token(sub, ttl=600))
    await client.wait_for("hub.welcome")
    return client, await client.call("auth.refresh", payload)


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (lambda hub: hub.token("mallory", ttl=600), "forbidden"),
        (lambda hub: "not-a-jwt", "auth_invalid"),
        (lambda hub: hub.token("dave", ttl=600)[:-4] + "AAAA", "auth_invalid"),
        (lambda hub: hub.token("dave", exp=int(time.time()) - 60), "auth_expired"),
    ],
    ids=["another-sub", "garbage", "bad-signature", "expired"],
)
async def test_refresh_refused(hub: RunningHub, token: Any, code: str) -> None:
    client, reply = await refresh_reply(hub, "dave", {"token": token(hub)})
    try:
        assert reply["ok"] is False, reply
        assert reply["error"]["code"] == code, reply
        assert "Traceback" not in reply["error"]["message"]
        # A refused refresh leaves the connection as it was: still dave, still connected.
        assert client.sio.connected
        published = await hub.publish("user:dave", "test.still_here", {})
        # The inbox is durable: earlier tests' events are redelivered, so match by id.
        await client.wait_for("test.still_here", lambda event: event["id"] == published["id"])
    finally:
        await client.close()


async def test_refresh_with_another_sub_does_not_change_identity(hub: RunningHub) -> None:
    client, reply = await refresh_reply(hub, "erin", {"token": hub.token("mallory", roles=["admin"], ttl=600)})
    try:
        assert reply["error"]["code"] == "forbidden"
        # Had the refresh switched users, erin could now read mallory's inbox.
        other = await client.call("subscribe", {"topic": "user:mallory"})
        assert other["ok"] is False and other["error"]["code"] == "forbidden", other
    finally:
        await client.close()


async def test_refresh_without_a_token_is_invalid_message(hub: RunningHub) -> None:
    client, reply = await refresh_reply(hub, "frank", {})
    try:
        assert reply["ok"] is False
        assert reply["error"]["code"] == "invalid_message"
    finally:
        await client.close()


async def test_connection_is_closed_at_exp_plus_the_leeway(tmp_path: Any) -> None:
    # The same rule as at connect time: a token is expired once past exp + leeway,
    # so the hub never closes a connection it would accept again with that token.
    leeway = 2.0
    running = start_hub(tmp_path, env={"HUB_JWT_LEEWAY": str(leeway), "HUB_TOKEN_EXPIRING_NOTICE": "1"})
    try:
        client, exp = await connect_expiring(running, "grace", ttl=1.0)
        try:
            await client.wait_for("hub.token_expiring", timeout=SLACK)
            error = (await client.wait_for("hub.error", timeout=leeway + SLACK))[0]
            assert error["data"]["code"] == "auth_expired"
            assert time.time() >= exp + leeway - 0.1, "closed inside the leeway"
            await asyncio.wait_for(client.disconnected.wait(), SLACK)
        finally:
            await client.close()
    finally:
        running.stop()
