"""notifications against a running hub: live and offline delivery, read state across devices,
who may notify, bad payloads, and the Python API other plugins use. One hub (SQLite) for the module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.testing import RunningHub, start_hub

from .support import caller_site, connect, mark_read, mine, notify


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    root = tmp_path_factory.mktemp("notifications")
    running = start_hub(root / "hub", env={"PYTHONPATH": caller_site(root / "site")})
    yield running
    running.stop()


async def test_connected_user_gets_it_at_once_on_every_connection(hub: RunningHub) -> None:
    phone, laptop = await connect(hub, "ann"), await connect(hub, "ann")
    response = await notify(hub, {"users": ["ann", "bea"], "title": "Build done", "body": "main is green",
                                  "data": {"build": 42}, "id": "build-42"})
    assert response.status_code == 201
    assert response.json() == {"id": "build-42", "users": 2, "created": 2}
    for device in (phone, laptop):
        event = (await device.wait_for("notification.created"))[0]
        assert event["topic"] == "user:ann" and event["id"] == "build-42" and event["seq"] >= 1
        assert event["meta"]["sender"] == "svc"
        data = event["data"]
        assert {key: data[key] for key in ("id", "title", "body", "data", "read")} == {
            "id": "build-42", "title": "Build done", "body": "main is green", "data": {"build": 42}, "read": False,
        }
        assert data["created_at"].endswith("Z")
    await phone.close()
    await laptop.close()


async def test_offline_user_gets_it_on_connecting_until_acknowledged(hub: RunningHub) -> None:
    response = await notify(hub, {"users": ["cleo"], "title": "While you were away", "body": "3 comments"})
    assert response.status_code == 201
    note_id = response.json()["id"]
    first = await connect(hub, "cleo")
    assert (await first.wait_for("notification.created"))[0]["id"] == note_id
    await first.close()
    # Not acknowledged: delivered again on the next connection.
    second = await connect(hub, "cleo")
    assert (await second.wait_for("notification.created"))[0]["id"] == note_id
    assert await second.call("ack", {"ids": [note_id]}) == {"ok": True, "acked": 1}
    await second.close()
    # Acknowledged: never again. A newer notification is the signal that the queue was delivered.
    later = await notify(hub, {"users": ["cleo"], "title": "Newer", "body": "", "id": "cleo-newer"})
    assert later.status_code == 201
    third = await connect(hub, "cleo")
    await third.wait_for("notification.created", where=lambda event: event["id"] == "cleo-newer")
    assert [event["id"] for event in third.of_type("notification.created")] == ["cleo-newer"]
    await third.close()
    # Acknowledging delivery is not reading: both are still unread.
    assert (await mine(hub, "cleo"))["unread"] == 2


async def test_marking_read_on_one_device_reaches_the_other(hub: RunningHub) -> None:
    phone, laptop = await connect(hub, "dora"), await connect(hub, "dora")
    for n in range(3):
        assert (await notify(hub, {"users": ["dora"], "title": f"n{n}", "body": "", "id": f"dora-{n}"})).status_code == 201
    await laptop.wait_for("notification.created", count=3)
    response = await mark_read(hub, "dora", {"ids": ["dora-0", "dora-1", "dora-1", "someone-elses"]})
    assert response.status_code == 200
    assert response.json() == {"read": 2, "unread": 1}
    event = (await laptop.wait_for("notification.read"))[0]
    assert event["topic"] == "user:dora"
    assert sorted(event["data"]["ids"]) == ["dora-0", "dora-1"] and event["data"]["unread"] == 1
    assert (await phone.wait_for("notification.read"))[0]["id"] == event["id"]
    # Already read: nothing changes and nothing is published.
    assert (await mark_read(hub, "dora", {"ids": ["dora-0"]})).json() == {"read": 0, "unread": 1}
    response = await mark_read(hub, "dora", {"all": True})
    assert response.json() == {"read": 1, "unread": 0}
    events = await laptop.wait_for("notification.read", count=2)
    assert events[1]["data"]["all"] is True and events[1]["data"]["unread"] == 0
    assert len(laptop.of_type("notification.read")) == 2
    page = await mine(hub, "dora")
    assert page["unread"] == 0 and all(item["read"] and item["read_at"] for item in page["items"])
    await phone.close()
    await laptop.close()


async def test_list_is_own_newest_first_with_unread_filter_and_cursor(hub: RunningHub) -> None:
    for n in range(7):
        await notify(hub, {"users": ["emil"], "title": f"t{n}", "body": f"b{n}", "id": f"emil-{n}"})
    await notify(hub, {"users": ["fred"], "title": "not emil's", "body": ""})
    await mark_read(hub, "emil", {"ids": ["emil-5", "emil-2"]})
    seen: list[str] = []
    cursor = ""
    while True:
        page = await mine(hub, "emil", f"?limit=3{cursor}")
        assert page["unread"] == 5
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == [f"emil-{n}" for n in reversed(range(7))]
    unread = await mine(hub, "emil", "?unread=1")
    assert [item["id"] for item in unread["items"]] == ["emil-6", "emil-4", "emil-3", "emil-1", "emil-0"]
    assert unread["next_cursor"] is None


async def test_the_same_id_lands_once(hub: RunningHub) -> None:
    gina = await connect(hub, "gina")
    body = {"users": ["gina", "hugo"], "title": "Once", "body": "only once", "id": "once-1"}
    assert (await notify(hub, body)).status_code == 201
    retry = await notify(hub, {**body, "users": ["hugo", "gina", "ivan"]})
    assert retry.status_code == 201 and retry.json() == {"id": "once-1", "users": 3, "created": 1}
    again = await notify(hub, body)
    assert again.status_code == 200 and again.json()["created"] == 0
    await notify(hub, {"users": ["gina"], "title": "marker", "body": "", "id": "gina-marker"})
    await gina.wait_for("notification.created", where=lambda event: event["id"] == "gina-marker")
    assert [event["id"] for event in gina.of_type("notification.created")] == ["once-1", "gina-marker"]
    assert [item["id"] for item in (await mine(hub, "gina"))["items"]] == ["gina-marker", "once-1"]
    assert [item["id"] for item in (await mine(hub, "ivan"))["items"]] == ["once-1"]
    await gina.close()


async def test_only_services_and_admins_notify(hub: RunningHub) -> None:
    body = {"users": ["jack"], "title": "You won", "body": "a prize"}
    response = await notify(hub, body, roles=())
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert (await notify(hub, body, roles=("moderator",))).status_code == 403
    async with hub.http() as http:
        anonymous = await http.post("/api/notifications", json=body)
        assert anonymous.status_code == 401
        assert (await http.get("/api/notifications")).status_code == 401
        assert (await http.post("/api/notifications/read", json={"all": True})).status_code == 401
    assert (await mine(hub, "jack"))["items"] == []
    assert (await notify(hub, body, roles=("admin",))).status_code == 201


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"title": "t", "body": "b"}, "'users' is required"),
        ({"users": [], "title": "t", "body": "b"}, "'users' must be a non-empty list"),
        ({"users": "kim", "title": "t", "body": "b"}, "'users' must be a non-empty list"),
        ({"users": ["kim", 7], "title": "t", "body": "b"}, "'users' holds 7"),
        ({"users": ["kim lee"], "title": "t", "body": "b"}, "'users' holds 'kim lee'"),
        ({"users": [f"u{n}" for n in range(10_001)], "title": "t", "body": "b"}, "limited to 10000 distinct user ids"),
        ({"users": ["kim"], "body": "b"}, "'title' is required"),
        ({"users": ["kim"], "title": "", "body": "b"}, "'title' is required and must be a non-empty string"),
        ({"users": ["kim"], "title": "t" * 201, "body": "b"}, "'title' is limited to 200 characters"),
        ({"users": ["kim"], "title": "t"}, "'body' is required"),
        ({"users": ["kim"], "title": "t", "body": None}, "'body' is required and must be a string"),
        ({"users": ["kim"], "title": "t", "body": "b" * 5001}, "'body' is limited to 5000 characters"),
        ({"users": ["kim"], "title": "t", "body": "b", "data": [1]}, "'data' must be an object"),
        ({"users": ["kim"], "title": "t", "body": "b", "data": {"x": "y" * 17_000}}, "'data' is limited to 16384 bytes"),
        ({"users": ["kim"], "title": "t", "body": "b", "id": "has space"}, "'id' must be 1 to 128"),
        ({"users": ["kim"], "title": "t", "body": "b", "id": 12}, "'id' must be 1 to 128"),
        ({"users": ["kim"], "title": "t", "body": "b", "urgent": True}, "Unknown field 'urgent'"),
    ],
)
async def test_bad_payloads_get_400_with_a_clear_message(hub: RunningHub, body: dict, message: str) -> None:
    response = await notify(hub, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_message" and message in error["message"]


async def test_bad_bodies_and_queries_get_400(hub: RunningHub) -> None:
    async with hub.http() as http:
        headers = hub.headers()
        response = await http.post(
            "/api/notifications", content=b"{not json", headers={**headers, "content-type": "application/json"}
        )
        assert response.status_code == 400 and response.json()["error"]["message"] == "The body must be JSON."
        response = await http.post("/api/notifications", json=["kim"], headers=headers)
        assert response.status_code == 400 and "JSON object" in response.json()["error"]["message"]
        response = await http.post("/api/notifications", content=b" " * (4 * 1024 * 1024 + 1), headers=headers)
        assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
        user = hub.headers("kim", ())
        for query, message in [
            ("?unread=yes", "'unread' must be 1 or 0"),
            ("?limit=0", "'limit' must be a whole number from 1 to 200"),
            ("?limit=500", "'limit' must be a whole number"),
            ("?cursor=abc", "'cursor' must be a next_cursor value"),
            ("?page=2", "Unknown parameter 'page'"),
        ]:
            response = await http.get(f"/api/notifications{query}", headers=user)
            assert response.status_code == 400, query
            assert message in response.json()["error"]["message"], query
        for body, message in [
            ({}, "Send either"),
            ({"ids": ["a"], "all": True}, "Send either"),
            ({"all": False}, "'all' must be true"),
            ({"ids": []}, "'ids' must be a list of 1 to 1000"),
            ({"ids": "a"}, "'ids' must be a list"),
            ({"ids": ["ok", None]}, "'ids' holds None"),
            ({"ids": ["a"], "extra": 1}, "Unknown field 'extra'"),
        ]:
            response = await http.post("/api/notifications/read", json=body, headers=user)
            assert response.status_code == 400, body
            assert message in response.json()["error"]["message"], body


async def test_plugins_notify_through_the_service(hub: RunningHub) -> None:
    lena, mila = await connect(hub, "lena"), await connect(hub, "mila")
    reply = await mila.call("caller.remind", {"user": "lena", "text": "lunch?", "id": "remind-1"})
    assert reply == {"ok": True, "sent": True, "id": "remind-1", "users": 1, "created": 1}
    event = (await lena.wait_for("notification.created"))[0]
    assert event["data"]["title"] == "Reminder" and event["data"]["data"] == {"from": "mila"}
    # The service checks its input as the route does.
    bad = await mila.call("caller.remind", {"user": "not a user id", "text": "x"})
    assert bad["ok"] is False and bad["error"]["code"] == "invalid_message"
    await lena.close()
    await mila.close()


async def test_routes_are_described_in_openapi(hub: RunningHub) -> None:
    async with hub.http() as http:
        paths = (await http.get("/openapi.json")).json()["paths"]
    assert set(paths["/api/notifications"]) == {"get", "post"}
    assert "requestBody" in paths["/api/notifications"]["post"]
    assert set(paths["/api/notifications/read"]) == {"post"}
