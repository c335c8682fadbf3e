"""Subscription parameters and per-subscriber views, against a real hub with real Socket.IO clients.

The test plugin ``listing`` (tests/support/hub_listing.py) registers ``items:<list>``:
a durable kind whose subscriptions may carry ``status``; a filtered subscriber
gets ``item.changed`` for items with that status and ``item.removed`` when an
item leaves it, an unfiltered one every change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.client import HubClient
from hub.testing import RunningHub, SocketRecorder, start_hub, welcomed
from tests.support import plugin_site, with_site
from tests.support.cluster import metric

ENCODINGS = "hub_event_encodings_total"


def listing_env(tmp_path: Path) -> dict[str, str]:
    """A hub's settings with the ``listing`` test plugin installed."""
    site = plugin_site(tmp_path / "site", "hub_listing", "listing", "Listing")
    # A short ping cycle ends the long-poll a departed polling client leaves pending (it holds up shutdown).
    return {"PYTHONPATH": with_site(site), "HUB_RATE_LIMIT": "10000", "HUB_RATE_BURST": "10000",
            "HUB_PING_INTERVAL": "1", "HUB_PING_TIMEOUT": "2"}


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[RunningHub]:
    running = start_hub(tmp_path / "hub", listing_env(tmp_path))
    yield running
    running.stop()


connect = welcomed  # a client that has received hub.welcome


async def put(client: SocketRecorder, item: str, status: str, name: str = "board") -> int:
    reply = await client.call("listing.put", {"list": name, "id": item, "status": status})
    assert reply["ok"], reply
    return int(reply["seq"])


def received(client: SocketRecorder, topic: str = "items:board") -> list[tuple[str, int, dict[str, Any]]]:
    return [(event, data["seq"], data["data"]) for event, data in client.events
            if isinstance(data, dict) and data.get("topic") == topic]


async def settled(clients: list[SocketRecorder], marker_seq: int, topic: str = "items:board") -> None:
    """Wait until an unfiltered client has seen ``marker_seq``: everything before it went out to all."""
    for client in clients:
        await client.wait_for("item.changed", lambda data: data["topic"] == topic and data["seq"] == marker_seq)


async def test_each_subscriber_gets_its_form_and_each_form_is_encoded_once(hub: RunningHub) -> None:
    writer = await connect(hub, "writer")
    opened = [await connect(hub, f"open{n}", transport="polling" if n == 2 else "websocket") for n in range(3)]
    everything = [await connect(hub, f"all{n}") for n in range(2)]
    closed = await connect(hub, "closer")
    for client in opened:
        reply = await client.call("subscribe", {"topic": "items:board", "status": "open"})
        assert reply == {"ok": True, "topic": "items:board", "seq": 0, "recovered": False, "replaced": False,
                         "snapshot": {"items": []}}
    for client in everything:
        assert (await client.call("subscribe", {"topic": "items:board"}))["ok"]
    assert (await closed.call("subscribe", {"topic": "items:board", "status": "closed"}))["ok"]

    before = await metric(hub, ENCODINGS)
    first = await put(writer, "a", "open")  # open: as is; all: as is; closed: nothing
    await settled(everything + opened, first)
    assert await metric(hub, ENCODINGS) == before + 1

    before = await metric(hub, ENCODINGS)
    second = await put(writer, "a", "closed")  # open: removed; all and closed: as is
    await settled(everything, second)
    await closed.wait_for("item.changed", lambda data: data["seq"] == second)
    for client in opened:
        await client.wait_for("item.removed", lambda data: data["seq"] == second)
    assert await metric(hub, ENCODINGS) == before + 2

    third = await put(writer, "b", "done")  # nobody filtered gets it
    fourth = await put(writer, "b", "open")
    await settled(everything, fourth)
    for client in opened:
        await client.wait_for("item.changed", lambda data: data["seq"] == fourth)

    change = lambda item, status, previous: {"id": item, "status": status, "previous": previous}  # noqa: E731
    for client in opened:
        assert received(client) == [
            ("item.changed", first, change("a", "open", None)),
            ("item.removed", second, {"id": "a"}),
            ("item.changed", fourth, change("b", "open", "done")),
        ]
    for client in everything:
        assert received(client) == [
            ("item.changed", first, change("a", "open", None)),
            ("item.changed", second, change("a", "closed", "open")),
            ("item.changed", third, change("b", "done", None)),
            ("item.changed", fourth, change("b", "open", "done")),
        ]
    assert received(closed) == [("item.changed", second, change("a", "closed", "open"))]
    # The removed form keeps the event's id: every form is the same event.
    ids = {data["id"] for client in opened + everything for event, data in client.events if data.get("seq") == second}
    assert len(ids) == 1
    for client in [writer, *opened, *everything, closed]:
        await client.close()


async def test_a_filtered_subscriber_sees_gaps_and_resumes_exactly_with_since(hub: RunningHub) -> None:
    writer = await connect(hub, "writer")
    reader = await connect(hub, "reader")
    await reader.call("subscribe", {"topic": "items:board", "status": "open"})
    statuses = ["open", "done", "open", "closed", "open", "done", "done", "open"]
    seqs = [await put(writer, f"i{n}", status) for n, status in enumerate(statuses)]
    wanted = [seq for seq, status in zip(seqs, statuses) if status == "open"]
    got = await reader.wait_for("item.changed", count=len(wanted))
    assert [event["seq"] for event in got] == wanted == sorted(wanted)
    assert wanted != list(range(wanted[0], wanted[0] + len(wanted)))  # gaps: the view skipped some
    last = got[-1]["seq"]
    await reader.close()

    # While away: moves into, out of and around the filter.
    later = [("i1", "open"), ("i0", "closed"), ("x", "done"), ("y", "open"), ("i2", "done")]
    later_seqs = [await put(writer, item, status) for item, status in later]
    back = await connect(hub, "reader")
    reply = await back.call("subscribe", {"topic": "items:board", "since": last, "status": "open"})
    assert reply["ok"] and reply["recovered"] is True and reply["seq"] == later_seqs[-1]
    assert reply["snapshot"] == {"items": ["i1", "i4", "i7", "y"]}
    marker = await put(writer, "z", "open")
    await back.wait_for("item.changed", lambda data: data["seq"] == marker)
    assert [(event, seq, data.get("id")) for event, seq, data in received(back)] == [
        ("item.changed", later_seqs[0], "i1"),
        ("item.removed", later_seqs[1], "i0"),
        ("item.changed", later_seqs[3], "y"),
        ("item.removed", later_seqs[4], "i2"),
        ("item.changed", marker, "z"),
    ]
    for client in (writer, back):
        await client.close()


async def test_subscribing_again_replaces_the_view(hub: RunningHub) -> None:
    writer = await connect(hub, "writer")
    reader = await connect(hub, "reader")
    await put(writer, "a", "open")
    await put(writer, "b", "closed")
    first = await reader.call("subscribe", {"topic": "items:board", "status": "open"})
    assert first["replaced"] is False and first["snapshot"] == {"items": ["a"]}
    second = await reader.call("subscribe", {"topic": "items:board", "status": "closed"})
    assert second["ok"] and second["replaced"] is True and second["snapshot"] == {"items": ["b"]}
    opened = await put(writer, "c", "open")
    shut = await put(writer, "d", "closed")
    await reader.wait_for("item.changed", lambda data: data["seq"] == shut)
    assert [seq for _, seq, _ in received(reader)] == [shut]
    assert opened < shut
    # Back to everything: no params is a view too.
    third = await reader.call("subscribe", {"topic": "items:board"})
    assert third["replaced"] is True and third["snapshot"] == {"items": ["a", "b", "c", "d"]}
    last = await put(writer, "e", "done")
    await reader.wait_for("item.changed", lambda data: data["seq"] == last)
    # Unsubscribing forgets the view: a new subscribe is not a replacement.
    assert (await reader.call("unsubscribe", {"topic": "items:board"}))["ok"]
    assert (await reader.call("subscribe", {"topic": "items:board"}))["replaced"] is False
    for client in (writer, reader):
        await client.close()


async def test_params_are_validated_and_reach_the_policy(hub: RunningHub) -> None:
    client = await connect(hub, "carol")
    admin = await connect(hub, "root", ("admin",))

    async def code(who: SocketRecorder, payload: dict[str, Any]) -> str:
        reply = await who.call("subscribe", payload)
        assert reply["ok"] is False, reply
        return str(reply["error"]["code"])

    # The kind's validator refuses what it does not take.
    assert await code(client, {"topic": "items:board", "status": 5}) == "invalid_message"
    assert await code(client, {"topic": "items:board", "colour": "red"}) == "invalid_message"
    # A kind without params refuses every extra key, the core's inbox included.
    assert await code(client, {"topic": "blob:x", "status": "open"}) == "invalid_message"
    reply = await client.call("subscribe", {"topic": "user:carol", "filter": {}})
    assert reply["error"]["code"] == "invalid_message" and "'filter'" in reply["error"]["message"]
    # can_subscribe_with sees the params.
    assert await code(client, {"topic": "items:board", "status": "secret"}) == "forbidden"
    assert (await admin.call("subscribe", {"topic": "items:board", "status": "secret"}))["ok"]
    # Topic errors still come first.
    assert await code(client, {"topic": "nope:x", "status": "open"}) == "unknown_topic"
    # A refused subscribe leaves the connection out of the topic.
    writer = await connect(hub, "writer")
    marker = await put(writer, "s", "secret")
    await admin.wait_for("item.changed", lambda data: data["seq"] == marker)
    assert received(client) == []
    for who in (client, admin, writer):
        await who.close()


async def until(check: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("not within the timeout")
        await asyncio.sleep(0.02)


async def test_the_python_client_sends_params_and_resubscribes_with_them(hub: RunningHub) -> None:
    writer = await connect(hub, "writer")
    got: list[tuple[str, int]] = []
    resubscribed: list[dict[str, Any]] = []
    async with HubClient(hub.url, hub.token("dana"), reconnection_delay=0.1, reconnection_delay_max=0.5) as client:
        client.on("item.changed", lambda envelope: got.append((envelope["type"], envelope["seq"])))
        client.on("item.removed", lambda envelope: got.append((envelope["type"], envelope["seq"])))
        client.on("client.resubscribed", resubscribed.append)
        reply = await client.subscribe("items:board", params={"status": "open"})
        assert reply["replaced"] is False
        first = await put(writer, "a", "open")
        await put(writer, "b", "done")
        third = await put(writer, "a", "done")
        await until(lambda: len(got) >= 2)
        # The connection drops; while away, events in and out of the filter.
        await client.sio.eio.ws.close()
        away = [await put(writer, "c", "open"), await put(writer, "d", "closed")]
        await until(lambda: resubscribed)
        # The resubscription carried the filter (and `since`): the backlog went through the view.
        assert resubscribed[0]["topic"] == "items:board" and resubscribed[0]["snapshot"] == {"items": ["c"]}
        last = await put(writer, "e", "open")
        await until(lambda: got and got[-1][1] == last)
        assert got == [("item.changed", first), ("item.removed", third), ("item.changed", away[0]),
                       ("item.changed", last)]
    await writer.close()
