"""Typing indicators against a running hub: to the others only, throttled, ending by themselves.

One hub for the module with short timings: typing ends after 1 s without
renewal, and typing: true goes out at most once per 600 ms per user and room.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hub.testing import RunningHub, SocketRecorder, start_hub

from .support import FAST, barrier, events, join

TIMEOUT = float(FAST["HUB_PLUGIN_PRESENCE_TYPING_TIMEOUT_SECONDS"])
THROTTLE = float(FAST["HUB_PLUGIN_PRESENCE_TYPING_THROTTLE_MS"]) / 1000


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    running = start_hub(tmp_path_factory.mktemp("presence-typing"), env=FAST)
    yield running
    running.stop()


async def typing(client: SocketRecorder, room: str, value: bool) -> dict[str, Any]:
    reply = await client.call("presence.typing", {"room": room, "typing": value})
    assert reply["ok"], reply
    return dict(reply)


def typing_of(client: SocketRecorder, room: str, user: str) -> list[bool]:
    return [e["typing"] for e in events(client, "presence.typing", room) if e["user"] == user]


async def test_typing_reaches_the_others_not_the_sender_and_ends_by_itself(clients: Any) -> None:
    alice1, alice2, bob, carol = await clients("alice"), await clients("alice"), await clients("bob"), await clients("carol")
    for client in (alice1, alice2, bob, carol):
        await join(client, "team")

    started = time.monotonic()
    assert await typing(alice1, "team", True) == {"ok": True, "throttled": False}
    for other in (bob, carol):
        (event,) = await other.wait_for("presence.typing")
        assert event["topic"] == "presence:team" and event["data"] == {"user": "alice", "typing": True}
        assert event["seq"] is None  # ephemeral: never stored
        assert event["meta"]["sender"] == "alice"

    # Never back to the sender, on any of her connections: bob types too, and both tabs see only bob.
    await typing(bob, "team", True)
    for tab in (alice1, alice2):
        await tab.wait_for("presence.typing", where=lambda e: e["data"]["user"] == "bob")
        assert typing_of(tab, "team", "alice") == []
    assert typing_of(bob, "team", "bob") == []

    # Not renewed: it ends on its own with typing: false.
    await carol.wait_for("presence.typing", where=lambda e: e["data"] == {"user": "alice", "typing": False})
    assert time.monotonic() - started >= TIMEOUT * 0.9
    assert typing_of(carol, "team", "alice") == [True, False]
    # Too late to be news: a room that was told false is not told false again.
    assert await typing(alice1, "team", False) == {"ok": True, "throttled": False}


async def test_typing_is_throttled_per_user_and_room(clients: Any) -> None:
    alice, bob = await clients("alice"), await clients("bob")
    await join(alice, "busy")
    await join(bob, "busy")

    started = time.monotonic()
    assert (await typing(alice, "busy", True))["throttled"] is False
    assert (await typing(alice, "busy", True))["throttled"] is True
    assert (await typing(alice, "busy", True))["throttled"] is True
    await asyncio.sleep(max(0.0, started + THROTTLE + 0.05 - time.monotonic()))  # the window is a timer
    assert (await typing(alice, "busy", True))["throttled"] is False
    assert (await typing(alice, "busy", False))["throttled"] is False
    await bob.wait_for("presence.typing", where=lambda e: e["data"]["typing"] is False)
    assert typing_of(bob, "busy", "alice") == [True, True, False]


async def test_a_throttled_renewal_keeps_typing_alive(clients: Any) -> None:
    alice, bob = await clients("alice"), await clients("bob")
    await join(alice, "renew")
    await join(bob, "renew")
    started = time.monotonic()
    await typing(alice, "renew", True)
    # Renewals every 0.3 s for 1.8 s: some are throttled, and none lets the 1 s timeout run out.
    while time.monotonic() - started < 1.8 * TIMEOUT:
        await asyncio.sleep(0.3 * TIMEOUT)
        await typing(alice, "renew", True)
    renewed_until = time.monotonic()
    await bob.wait_for("presence.typing", where=lambda e: e["data"]["typing"] is False, timeout=5)
    assert time.monotonic() - renewed_until >= TIMEOUT * 0.8
    assert typing_of(bob, "renew", "alice")[-1] is False
    assert False not in typing_of(bob, "renew", "alice")[:-1]


async def test_typing_ends_when_the_user_leaves(clients: Any) -> None:
    alice, bob = await clients("alice"), await clients("bob")
    await join(alice, "door")
    await join(bob, "door")
    await typing(alice, "door", True)
    await bob.wait_for("presence.typing")
    assert (await alice.call("unsubscribe", {"topic": "presence:door"}))["ok"]
    await bob.wait_for("presence.left")
    kinds = [(event, data["data"]) for event, data in bob.events if event.startswith("presence.")]
    assert kinds[-2:] == [
        ("presence.typing", {"user": "alice", "typing": False}),
        ("presence.left", {"user": "alice"}),
    ]
    # The timer ended with the leave: nothing more comes once the timeout has passed.
    await asyncio.sleep(TIMEOUT + 0.2)
    await barrier(bob, "door", await clients("carol"), "carol")
    assert typing_of(bob, "door", "alice") == [True, False]


async def test_typing_requests_are_checked(clients: Any) -> None:
    alice = await clients("alice")
    await join(alice, "checked")
    not_joined = await alice.call("presence.typing", {"room": "elsewhere", "typing": True})
    assert not_joined["ok"] is False and not_joined["error"]["code"] == "forbidden"
    for payload, code in [
        ({"room": "checked"}, "invalid_message"),
        ({"typing": True}, "invalid_message"),
        ({"room": "checked", "typing": "yes"}, "invalid_message"),
        ({"room": "checked", "typing": 1}, "invalid_message"),
        ({"room": 7, "typing": True}, "invalid_message"),
        ({"room": "no spaces", "typing": True}, "invalid_topic"),
        ({"room": "x" * 201, "typing": True}, "invalid_topic"),
    ]:
        reply = await alice.call("presence.typing", payload)
        assert reply["ok"] is False and reply["error"]["code"] == code, (payload, reply)
