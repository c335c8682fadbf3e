"""Filters, resume with since, purged history, reset and per-record policy, against a real hub."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hub.testing import RunningHub, start_hub, welcomed
from tests.support.cluster import eventually

from .support import LiveList, put

COLLECTIONS = {
    "cases": {"owner": "owner_id", "see_all": ["partner"], "read": ["*"]},
    "open_to_all": {},
}


@pytest.fixture
def hub(tmp_path: Path):
    running = start_hub(tmp_path / "hub", env={"HUB_PLUGIN_LIVE_DATA_COLLECTIONS": json.dumps(COLLECTIONS)})
    yield running
    running.stop()


async def _seen(live: LiveList, expected: dict) -> None:
    async def check() -> bool:
        live.catch_up()
        return live.records == expected

    await eventually(check, timeout=10)


async def test_a_filtered_subscriber_sees_records_leave_and_arrive(hub: RunningHub) -> None:
    client = await welcomed(hub, "ops", ["admin"])
    live = LiveList(client, "live:open_to_all")
    async with hub.http() as http:
        await put(http, hub, "open_to_all", "a", {"status": "open"})
        await put(http, hub, "open_to_all", "b", {"status": "open"})
        reply = await live.subscribe(filter={"status": {"in": ["open"]}})
        assert reply["replaced"] is False and reply["recovered"] is False
        assert live.records == {"a": {"id": "a", "status": "open"}, "b": {"id": "b", "status": "open"}}
        await put(http, hub, "open_to_all", "a", {"status": "closed"})  # updated out of the filter
        assert (await http.delete("/api/live/open_to_all/b", headers=hub.headers())).status_code == 200  # deleted
        await put(http, hub, "open_to_all", "c", {"status": "closed"})  # never in it: nothing
        await put(http, hub, "open_to_all", "c", {"status": "open"})  # updated into it
        await _seen(live, {"c": {"id": "c", "status": "open"}})
    assert [(event["type"], event["data"]["key"]) for event in live.applied] == [
        ("live.removed", "a"), ("live.removed", "b"), ("live.added", "c"),
    ]
    # Subscribing again with another filter replaces the view, and the reply says so.
    reply = await live.subscribe(filter={"status": "closed"})
    assert reply["replaced"] is True
    assert live.records == {"a": {"id": "a", "status": "closed"}}
    # A bad filter is invalid_message; the subscription in force stays.
    bad = await client.call("subscribe", {"topic": "live:open_to_all", "filter": {"n": {"near": 3}}})
    assert bad["ok"] is False and bad["error"]["code"] == "invalid_message"
    await client.close()


async def test_an_offline_client_resumes_with_exactly_what_it_missed(hub: RunningHub) -> None:
    client = await welcomed(hub, "ops", ["admin"])
    live = LiveList(client, "live:open_to_all")
    async with hub.http() as http:
        for number in range(5):
            await put(http, hub, "open_to_all", f"r{number}", {"status": "open", "n": number})
        await live.subscribe(filter={"status": "open"})
        await client.close()
        # Offline for 5 s while the collection changes (in and out of the filter).
        writes = asyncio.create_task(asyncio.sleep(5))
        missed = []
        for number in range(10):
            status = "closed" if number % 3 == 0 else "open"
            missed.append(await put(http, hub, "open_to_all", f"r{number}", {"status": status, "n": number + 100}))
        await writes
    back = await welcomed(hub, "ops", ["admin"])
    resumed = LiveList(back, "live:open_to_all")
    resumed.records, resumed.seq = dict(live.records), live.seq
    reply = await back.call("subscribe", {"topic": "live:open_to_all", "since": live.seq, "filter": {"status": "open"}})
    assert reply["ok"] and reply["recovered"] is True and "snapshot" not in reply
    expected = {f"r{n}": {"id": f"r{n}", "status": "open", "n": n + 100} for n in range(10) if n % 3}
    await _seen(resumed, expected)
    seqs = [event["seq"] for event in resumed.applied]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    # Exactly the changes missed that concern this view, each once: r6 and r9 were
    # created outside the filter, so nothing about them reaches it.
    assert sorted(event["data"]["key"] for event in resumed.applied) == sorted(f"r{n}" for n in range(10) if n not in (6, 9))
    await back.close()


async def test_a_user_sees_only_records_the_policy_gives_them(hub: RunningHub) -> None:
    alice = await welcomed(hub, "alice")
    bob = await welcomed(hub, "bob")
    partner = await welcomed(hub, "pat", ["partner"])
    lists = {name: LiveList(client, "live:cases") for name, client in [("alice", alice), ("bob", bob), ("pat", partner)]}
    async with hub.http() as http:
        await put(http, hub, "cases", "1", {"owner_id": "alice", "title": "A"})
        await put(http, hub, "cases", "2", {"owner_id": "bob", "title": "B"})
        for live in lists.values():
            await live.subscribe()
        assert set(lists["alice"].records) == {"1"} and set(lists["bob"].records) == {"2"}
        assert set(lists["pat"].records) == {"1", "2"}
        await put(http, hub, "cases", "3", {"owner_id": "bob", "title": "secret"})
        await put(http, hub, "cases", "1", {"owner_id": "bob", "title": "A"})  # reassigned: alice loses it
        await put(http, hub, "cases", "4", {"owner_id": "alice", "title": "D"})
    await _seen(lists["alice"], {"4": {"id": "4", "owner_id": "alice", "title": "D"}})
    await _seen(lists["pat"], {
        "1": {"id": "1", "owner_id": "bob", "title": "A"}, "2": {"id": "2", "owner_id": "bob", "title": "B"},
        "3": {"id": "3", "owner_id": "bob", "title": "secret"}, "4": {"id": "4", "owner_id": "alice", "title": "D"},
    })
    removal = [event for event in lists["alice"].applied if event["type"] == "live.removed"]
    assert [event["data"] for event in removal] == [{"key": "1"}]
    # Nothing about record 3, in any form, ever reached alice.
    assert not [event for _, event in alice.events if "secret" in json.dumps(event) or '"3"' in json.dumps(event)]
    # A collection nobody configured is for admins and services only.
    refused = await alice.call("subscribe", {"topic": "live:unlisted"})
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden"
    # Clients cannot write; services and admins can.
    async with hub.http() as http:
        response = await http.put("/api/live/cases/9", json={}, headers={"authorization": f"Bearer {hub.token('alice')}"})
        assert response.status_code == 403
    for client in (alice, bob, partner):
        await client.close()


async def test_purged_history_gives_a_fresh_snapshot_and_reset_reaches_subscribers(tmp_path: Path) -> None:
    env = {"HUB_PLUGIN_LIVE_DATA_RETENTION_DAYS": str(1 / 86400), "HUB_RETENTION_INTERVAL": "0.2"}
    hub = start_hub(tmp_path / "hub", env=env)
    try:
        client = await welcomed(hub, "ops", ["admin"])
        live = LiveList(client, "live:docs")
        async with hub.http() as http:
            await put(http, hub, "docs", "a", {"v": 1})
            await live.subscribe()
            await client.close()
            await put(http, hub, "docs", "b", {"v": 2})
            await put(http, hub, "docs", "a", {"v": 3})

            async def purged() -> bool:
                response = await http.get("/api/admin/events", params={"topic": "live:docs"}, headers=hub.headers("root", ("admin",)))
                return response.status_code == 200 and not response.json()["events"]

            await eventually(purged, timeout=20)
            back = await welcomed(hub, "ops", ["admin"])
            resumed = LiveList(back, "live:docs")
            resumed.seq = live.seq
            reply = await back.call("subscribe", {"topic": "live:docs", "since": live.seq})
            assert reply["ok"] and reply["recovered"] is False
            assert {item["key"]: item["record"] for item in reply["snapshot"]["records"]} == {
                "a": {"id": "a", "v": 3}, "b": {"id": "b", "v": 2},
            }
            # A rebuild of the whole collection reaches current subscribers as live.reset.
            await resumed.subscribe()
            response = await http.post("/api/live/docs/changes", headers=hub.headers(), json={
                "reset": True, "changes": [{"op": "upsert", "key": "z", "record": {"v": 9}}],
            })
            assert response.status_code == 200, response.text
            await _seen(resumed, {"z": {"id": "z", "v": 9}})
            assert resumed.applied[-1]["type"] == "live.reset"
        await back.close()
    finally:
        hub.stop()
