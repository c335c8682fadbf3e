"""Topics, subscriptions and the core requests against a running hub."""

from __future__ import annotations

import re

import pytest

from hub.testing import RunningHub, SocketRecorder, start_hub, welcomed

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory):
    running = start_hub(tmp_path_factory.mktemp("topics"))
    yield running
    running.stop()


connect = welcomed  # a client that has received hub.welcome


async def test_inbox_is_subscribed_on_connect_and_receives_service_events(hub: RunningHub) -> None:
    alice = await connect(hub, "alice")
    other = await connect(hub, "mallory")
    try:
        reply = await hub.publish("user:alice", "order.shipped", {"order": 7})
        event = (await alice.wait_for("order.shipped"))[0]
        assert event["id"] == reply["id"] and event["seq"] == reply["seq"] >= 1
        assert event["topic"] == "user:alice" and event["data"] == {"order": 7}
        assert event["v"] == 1 and TS.match(event["ts"])
        assert event["meta"]["sender"] == "svc"
        # Nobody else gets a user's private events.
        await hub.publish("user:mallory", "probe.done", {})
        await other.wait_for("probe.done")
        assert other.of_type("order.shipped") == []
    finally:
        await alice.close()
        await other.close()


async def test_envelope_of_every_emitted_event(hub: RunningHub) -> None:
    client = await connect(hub, "env-check")
    try:
        await hub.publish("user:env-check", "a.b", {"x": 1})
        await client.wait_for("a.b")
        for name, envelope in client.events:
            assert envelope["type"] == name
            assert set(envelope) >= {"v", "id", "type", "topic", "seq", "ts", "data"}
            assert isinstance(envelope["data"], dict)
        welcome = client.of_type("hub.welcome")[0]
        assert welcome["seq"] is None and welcome["data"]["user"] == "env-check"
    finally:
        await client.close()


async def test_cannot_subscribe_to_another_users_inbox_but_admin_can(hub: RunningHub) -> None:
    bob = await connect(hub, "bob")
    admin = await connect(hub, "root", ("admin",))
    try:
        reply = await bob.call("subscribe", {"topic": "user:alice"})
        assert reply["ok"] is False and reply["error"]["code"] == "forbidden"
        reply = await admin.call("subscribe", {"topic": "user:alice"})
        assert reply["ok"] is True and reply["topic"] == "user:alice" and isinstance(reply["seq"], int)
        await hub.publish("user:alice", "admin.sees", {})
        await admin.wait_for("admin.sees")
        assert bob.of_type("admin.sees") == []
    finally:
        await bob.close()
        await admin.close()


@pytest.mark.parametrize(
    ("topic", "code"),
    [
        ("nocolon", "invalid_topic"),
        ("Upper:key", "invalid_topic"),
        ("user:", "invalid_topic"),
        ("user:" + "k" * 201, "invalid_topic"),
        ("user:has space", "invalid_topic"),
        (42, "invalid_message"),
        ("nosuchkind:abc", "unknown_topic"),
    ],
)
async def test_bad_topics_get_their_codes(hub: RunningHub, topic: object, code: str) -> None:
    client = await connect(hub, "carol")
    try:
        reply = await client.call("subscribe", {"topic": topic})
        assert reply == {"ok": False, "error": {"code": code, "message": reply["error"]["message"]}}
        assert reply["error"]["message"]
    finally:
        await client.close()


async def test_clients_cannot_publish_to_inboxes(hub: RunningHub) -> None:
    client = await connect(hub, "dave")
    try:
        reply = await client.call("publish", {"topic": "user:dave", "type": "x.y", "data": {}})
        assert reply["ok"] is False and reply["error"]["code"] == "forbidden"
        reply = await client.call("publish", {"topic": "nokind:1", "type": "x.y", "data": {}})
        assert reply["error"]["code"] == "unknown_topic"
    finally:
        await client.close()


async def test_unsubscribe(hub: RunningHub) -> None:
    admin = await connect(hub, "root2", ("admin",))
    try:
        assert (await admin.call("subscribe", {"topic": "user:erin"}))["ok"]
        assert await admin.call("unsubscribe", {"topic": "user:erin"}) == {"ok": True}
        await hub.publish("user:erin", "after.unsub", {})
        await hub.publish("user:root2", "marker.event", {})
        await admin.wait_for("marker.event")
        assert admin.of_type("after.unsub") == []
        reply = await admin.call("unsubscribe", {"topic": "user:root2"})
        assert reply["error"]["code"] == "forbidden"
    finally:
        await admin.close()


async def test_http_publish_validates_its_body(hub: RunningHub) -> None:
    async with hub.http() as http:
        cases = [
            ({"type": "a.b"}, 400, "invalid_message"),
            ({"topic": "user:x", "type": "NotAType"}, 400, "invalid_message"),
            ({"topic": "user:x", "type": "a.b", "data": [1, 2]}, 400, "invalid_message"),
            ({"topic": "bad topic", "type": "a.b"}, 400, "invalid_topic"),
            ({"topic": "zzz:1", "type": "a.b"}, 404, "unknown_topic"),
        ]
        for body, status, code in cases:
            response = await http.post("/api/publish", json=body, headers=hub.headers())
            assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
        response = await http.post(
            "/api/publish", content=b"{not json", headers={**hub.headers(), "content-type": "application/json"}
        )
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_message"
        response = await http.post(
            "/api/publish", json={"topic": "user:x", "type": "a.b", "data": {"blob": "x" * 70000}}, headers=hub.headers()
        )
        assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


async def test_http_publish_is_idempotent_by_id(hub: RunningHub) -> None:
    client = await connect(hub, "frank")
    try:
        first = await hub.publish("user:frank", "pay.done", {"n": 1}, id="payment-123")
        second = await hub.publish("user:frank", "pay.done", {"n": 1}, id="payment-123")
        assert first == second == {"id": "payment-123", "seq": first["seq"]}
        await hub.publish("user:frank", "marker.event", {})
        await client.wait_for("marker.event")
        assert len(client.of_type("pay.done")) == 1
    finally:
        await client.close()
