"""hub.client.HubClient against a real hub."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.client import (
    AuthExpired, AuthInvalid, Forbidden, HubClient, HubClientError, InvalidMessage, InvalidTopic, UnknownTopic,
    error_from_wire,
)
from hub.testing import RunningHub, start_hub

TIMEOUT = 10.0
FAST_RECONNECT = {"reconnection_delay": 0.1, "reconnection_delay_max": 0.5}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    running = start_hub(tmp_path_factory.mktemp("client"))
    yield running
    running.stop()


@pytest.fixture
async def clients() -> AsyncIterator[list[HubClient]]:
    """Clients to close at the end of the test, whatever happens."""
    opened: list[HubClient] = []
    yield opened
    for client in opened:
        await client.close()


class Inbox:
    """Records the envelopes a handler saw, and lets a test wait for them."""

    def __init__(self, fail_on: Callable[[dict[str, Any]], bool] = lambda envelope: False) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail_on = fail_on
        self._changed = asyncio.Condition()

    async def __call__(self, envelope: dict[str, Any]) -> None:
        async with self._changed:
            self.events.append(envelope)
            self._changed.notify_all()
        if self.fail_on(envelope):
            raise RuntimeError("the application failed on this event")

    async def wait_for(self, where: Callable[[dict[str, Any]], bool], count: int = 1) -> list[dict[str, Any]]:
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len([e for e in self.events if where(e)]) >= count), TIMEOUT
            )
            return [e for e in self.events if where(e)]


async def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.02)


async def connect(clients: list[HubClient], hub: RunningHub, token: str, **options: Any) -> HubClient:
    client = HubClient(hub.url, token, **options)
    clients.append(client)
    await client.connect()
    return client


async def test_connect_returns_after_the_welcome(hub: RunningHub) -> None:
    async with HubClient(hub.url, hub.token("alice", ["tester"], name="Alice")) as client:
        assert client.welcome["user"] == "alice"
        assert client.welcome["roles"] == ["tester"]
        assert client.welcome["protocol"] == 1
        assert client.token_expires_at is not None and client.token_expires_at > time.time()
    assert not client.sio.connected


async def test_close_is_a_clean_disconnect_for_the_hub(hub: RunningHub) -> None:
    # The hub tells a clean goodbye from a lost connection (presence waits out a
    # grace period for the latter): closing the client must be the former.
    async def clean_disconnects() -> float:
        async with hub.http() as http:
            text = (await http.get("/metrics")).text
        line = next((l for l in text.splitlines() if l.startswith('hub_disconnects_total{reason="client"}')), None)
        return float(line.split()[-1]) if line else 0.0

    before = await clean_disconnects()
    async with HubClient(hub.url, hub.token("leaver")):
        pass
    for _ in range(100):
        if await clean_disconnects() == before + 1:
            break
        await asyncio.sleep(0.05)
    assert await clean_disconnects() == before + 1


async def test_polling_transport_works_too(hub: RunningHub, clients: list[HubClient]) -> None:
    client = await connect(clients, hub, hub.token("poller"), transports=["polling"])
    received = Inbox()
    client.on("poll.tick", received)
    await hub.publish("user:poller", "poll.tick", {"n": 1})
    assert (await received.wait_for(lambda e: True))[0]["data"] == {"n": 1}


async def test_own_inbox_events_reach_sync_and_async_handlers(hub: RunningHub, clients: list[HubClient]) -> None:
    client = await connect(clients, hub, hub.token("bea"))
    reply = await client.subscribe("user:bea")
    assert reply["topic"] == "user:bea" and isinstance(reply["seq"], int)
    received = Inbox()
    seen_by_sync: list[str] = []
    client.on("order.shipped", received)
    client.on("order.shipped", lambda envelope: seen_by_sync.append(envelope["id"]))
    published = await hub.publish("user:bea", "order.shipped", {"order": 7})
    event = (await received.wait_for(lambda e: True))[0]
    assert event["id"] == published["id"] and event["seq"] == published["seq"] == reply["seq"] + 1
    assert event["topic"] == "user:bea" and event["data"] == {"order": 7}
    assert seen_by_sync == [published["id"]]


async def test_error_replies_raise_typed_exceptions(hub: RunningHub, clients: list[HubClient]) -> None:
    client = await connect(clients, hub, hub.token("carl"))
    with pytest.raises(Forbidden) as forbidden:
        await client.subscribe("user:someone-else")
    assert forbidden.value.code == "forbidden" and forbidden.value.message
    with pytest.raises(InvalidTopic):
        await client.subscribe("no colon here")
    with pytest.raises(UnknownTopic):
        await client.subscribe("nokind:x")
    with pytest.raises(Forbidden):  # clients may not publish to an inbox
        await client.publish("user:carl", "note.added", {"x": 1})
    with pytest.raises(Forbidden):  # a connection always follows its own inbox
        await client.unsubscribe("user:carl")
    with pytest.raises(InvalidMessage):  # a plugin request nobody provides
        await client.request("nosuch.action", {})
    # The connection is still usable after every refusal.
    assert (await client.subscribe("user:carl"))["topic"] == "user:carl"


def test_every_contract_code_has_its_class_and_unknown_codes_the_base() -> None:
    from hub.errors import ERROR_CODES

    for code in ERROR_CODES:
        error = error_from_wire({"code": code, "message": "m"})
        assert type(error) is not HubClientError and error.code == code and error.message == "m"
    assert type(error_from_wire({"code": "brand_new", "message": "m"})) is HubClientError


async def test_a_refused_handshake_raises_its_error_from_connect(hub: RunningHub) -> None:
    with pytest.raises(AuthInvalid) as invalid:
        await HubClient(hub.url, "not-a-jwt", reconnection=False).connect()
    assert invalid.value.code == "auth_invalid"
    forged = RunningHub(hub.data_dir).token("alice")  # signed with another secret
    with pytest.raises(AuthInvalid):
        await HubClient(hub.url, forged).connect()
    with pytest.raises(AuthExpired):
        await HubClient(hub.url, hub.token("alice", ttl=-3600)).connect()


async def test_refresh_replaces_the_token(hub: RunningHub, clients: list[HubClient]) -> None:
    client = await connect(clients, hub, hub.token("dora", ttl=600))
    first_expiry = client.token_expires_at
    new_token = hub.token("dora", ttl=7200)
    reply = await client.refresh(new_token)
    assert "expires_at" in reply
    assert client.token == new_token
    assert first_expiry is not None and client.token_expires_at is not None
    assert client.token_expires_at > first_expiry + 3600
    with pytest.raises(Forbidden):  # a refreshed token must be for the same user
        await client.refresh(hub.token("mallory"))
    with pytest.raises(AuthInvalid):
        await client.refresh("garbage")
    assert client.token == new_token


async def test_token_provider_answers_token_expiring(tmp_path: Path, clients: list[HubClient]) -> None:
    hub = start_hub(tmp_path, {"HUB_TOKEN_EXPIRING_NOTICE": "2", "HUB_JWT_LEEWAY": "0"})
    try:
        exp = int(time.time()) + 3
        provided: list[str] = []

        async def token_provider() -> str:
            provided.append(hub.token("erin", ttl=3600))
            return provided[-1]

        refreshed = await connect(clients, hub, hub.token("erin", exp=exp), token_provider=token_provider)
        control = await connect(clients, hub, hub.token("erin", exp=exp), reconnection=False)
        refreshed_errors, control_errors = Inbox(), Inbox()
        refreshed.on("hub.error", refreshed_errors)
        control.on("hub.error", control_errors)
        await wait_until(lambda: refreshed.token in provided)
        assert len(provided) == 1
        assert refreshed.token_expires_at is not None and refreshed.token_expires_at > exp + 3000
        # The connection without a provider is closed at exp; by then the refreshed one would have been too.
        error = (await control_errors.wait_for(lambda e: True))[0]
        assert error["data"]["code"] == "auth_expired"
        await wait_until(lambda: not control.sio.connected)
        assert time.time() >= exp
        assert (await refreshed.subscribe("user:erin"))["topic"] == "user:erin"
        assert refreshed_errors.events == [] and refreshed.sio.connected
    finally:
        for client in clients:
            await client.close()
        await asyncio.to_thread(hub.stop)


async def test_inbox_events_are_acknowledged_only_when_handlers_succeed(
    hub: RunningHub, clients: list[HubClient]
) -> None:
    received = Inbox(fail_on=lambda envelope: envelope["data"]["n"] == 2)
    client = await connect(clients, hub, hub.token("fay"))
    client.on("task.done", received)
    for n in (1, 2, 3):
        await hub.publish("user:fay", "task.done", {"n": n})
    await received.wait_for(lambda e: True, count=3)
    await client.close()  # acknowledges what was handled

    again = Inbox()
    client = await connect(clients, hub, hub.token("fay"))
    client.on("task.done", again)
    client.on("marker.sent", again)
    await hub.publish("user:fay", "marker.sent", {"n": 4})
    await again.wait_for(lambda e: e["type"] == "marker.sent")
    # Only the event whose handler raised came back, before anything newer.
    assert [e["data"]["n"] for e in again.events] == [2, 4]


async def test_redelivered_events_reach_handlers_once(hub: RunningHub, clients: list[HubClient]) -> None:
    # A long ack delay: the events are handled but not yet acknowledged when the network drops.
    client = await connect(
        clients, hub, hub.token("gus"), transports=["websocket"], ack_delay=3600, **FAST_RECONNECT
    )
    received = Inbox()
    client.on("job.step", received)
    welcomes = Inbox()
    client.on("hub.welcome", welcomes)
    for n in (1, 2):
        await hub.publish("user:gus", "job.step", {"n": n})
    await received.wait_for(lambda e: True, count=2)
    await client.sio.eio.ws.close()  # the transport breaks; the hub redelivers what was not acked
    await welcomes.wait_for(lambda e: True)
    await hub.publish("user:gus", "job.step", {"n": 3})
    await received.wait_for(lambda e: e["data"]["n"] == 3)
    assert [e["data"]["n"] for e in received.events] == [1, 2, 3]
    # The duplicates were acknowledged for the handled events: a new connection gets nothing old.
    await client.close()
    fresh = await connect(clients, hub, hub.token("gus"))
    fresh_events = Inbox()
    fresh.on("job.step", fresh_events)
    await hub.publish("user:gus", "job.step", {"n": 4})
    await fresh_events.wait_for(lambda e: True)
    assert [e["data"]["n"] for e in fresh_events.events] == [4]


async def test_resubscribes_after_the_server_restarts(tmp_path: Path, clients: list[HubClient]) -> None:
    hub = start_hub(tmp_path)
    try:
        admin = await connect(clients, hub, hub.token("root", ["admin"]), **FAST_RECONNECT)
        received, resubscribed = Inbox(), Inbox()
        admin.on("note.added", received)
        admin.on("client.resubscribed", resubscribed)
        # Not the admin's own inbox: only a subscription brings these events.
        assert (await admin.subscribe("user:hal"))["seq"] == 0

        # In a thread: the client must keep running to see the drop and reconnect.
        await asyncio.to_thread(hub.stop)
        await asyncio.to_thread(hub.start)  # same port, same secret
        reply = (await resubscribed.wait_for(lambda r: r["topic"] == "user:hal"))[0]
        assert reply["seq"] == 0 and admin.welcome["user"] == "root"
        await hub.publish("user:hal", "note.added", {"n": 1})
        await received.wait_for(lambda e: True)
        assert [e["data"]["n"] for e in received.events] == [1]
    finally:
        for client in clients:
            await client.close()
        await asyncio.to_thread(hub.stop)
