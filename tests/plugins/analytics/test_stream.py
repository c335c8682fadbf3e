"""One hub process: the admin streams, their figures against /metrics, who may watch, and history."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from hub.testing import RunningHub, start_hub, welcomed

from .support import FAST, history, next_tick, scrape, total


async def test_ticks_count_what_clients_did_and_agree_with_metrics(tmp_path: Path) -> None:
    # A short ping interval: a long-polling client's disconnect waits for the next ping.
    hub = start_hub(tmp_path / "hub", {**FAST, "HUB_PING_INTERVAL": "0.5", "HUB_PING_TIMEOUT": "1"})
    try:
        admin = await welcomed(hub, "root", ("admin",))
        reply = await admin.call("subscribe", {"topic": "stats:cluster"})
        assert reply["ok"], reply
        # The snapshot is a whole tick at once: a dashboard has figures before the first tick.
        assert reply["snapshot"]["nodes"] and "latency" in reply["snapshot"]
        watchers = [await welcomed(hub, f"u{i}") for i in range(3)]
        polling = await welcomed(hub, "p0", transport="polling")
        for i in range(20):
            await hub.publish(f"user:u{i % 3}", f"note.kind{i % 2}", {"i": i})
        for client in watchers:
            await client.wait_for("note.kind0", count=3)

        def settled(data: dict) -> bool:
            user = data["published"]["by_kind"].get("user", {})
            return user.get("total") == 20 and data["connections"]["total"] == 5

        data = await next_tick(admin, settled)
        assert data["connections"]["by_transport"] == {"polling": 1, "websocket": 4}
        typed = {(t["kind"], t["type"]): t["total"] for t in data["published"]["by_type"]}
        assert typed[("user", "note.kind0")] == 10 and typed[("user", "note.kind1")] == 10
        delivered = {(t["kind"], t["type"]): t["total"] for t in data["deliveries"]["by_type"]}
        assert delivered[("user", "note.kind0")] == 10 and delivered[("user", "note.kind1")] == 10
        assert data["latency"]["count"] >= 20 and 0 < data["latency"]["p50"] <= data["latency"]["p99"] < 5
        assert data["health"]["database"] == "ok" and data["health"]["broker"] == "local"
        assert data["degraded"] is False and data["offline_queue"]["backlog"] is not None
        assert "presence" in data["plugins"]

        # One set of numbers: /metrics says what the stream says.
        samples = await scrape(hub)
        assert total(samples, "hub_events_published_total", kind="user") == 20
        assert total(samples, "hub_events_published_by_type_total", kind="user", type="note.kind0") == 10
        assert total(samples, "hub_deliveries_by_type_total", kind="user", type="note.kind1") == 10
        assert total(samples, "hub_connections") == data["connections"]["total"]
        assert total(samples, "hub_connections_by_transport", transport="polling") == 1
        for client in (admin, polling, *watchers):
            await client.close()
    finally:
        hub.stop()


async def test_only_admins_watch_and_refusals_are_counted(hub_server: RunningHub) -> None:
    user = await welcomed(hub_server, "mallory")
    for topic in ("stats:cluster", "stats:topic:user:mallory"):
        reply = await user.call("subscribe", {"topic": topic})
        assert reply == {"ok": False, "error": {"code": "forbidden", "message": reply["error"]["message"]}}
    admin = await welcomed(hub_server, "root", ("admin",))
    assert (await admin.call("subscribe", {"topic": "stats:nonsense"}))["error"]["code"] == "forbidden"
    assert (await admin.call("subscribe", {"topic": "stats:cluster"}))["ok"]
    data = await next_tick(admin, lambda d: d["refused"]["requests"].get("forbidden", 0) >= 3)
    assert data["refused"]["requests"]["forbidden"] == 3
    async with hub_server.http() as http:
        assert (await http.get("/api/analytics/history")).status_code == 401
        refused = await http.get("/api/analytics/history", headers=hub_server.headers("mallory", ()))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    await user.close()
    await admin.close()


async def test_occupancy_of_one_topic_as_it_changes(hub_server: RunningHub) -> None:
    admin = await welcomed(hub_server, "root", ("admin",))
    reply = await admin.call("subscribe", {"topic": "stats:topic:presence:lobby"})
    assert reply["ok"] and reply["snapshot"]["subscribers"] == 0, reply
    alice = await welcomed(hub_server, "alice")
    assert (await alice.call("subscribe", {"topic": "presence:lobby"}))["ok"]
    [event] = await admin.wait_for("stats.occupancy", lambda e: e["data"]["subscribers"] == 1)
    assert event["data"]["users"] == ["alice"] and event["topic"] == "stats:topic:presence:lobby"
    await alice.close()
    await admin.wait_for("stats.occupancy", lambda e: e["data"]["subscribers"] == 0)
    await admin.close()


async def test_history_holds_the_intervals_and_refuses_bad_input(tmp_path: Path, database_url: str) -> None:
    hub = start_hub(tmp_path / "hub", {**FAST, "HUB_DATABASE_URL": database_url})
    try:
        started = time.time()
        for i in range(6):
            await hub.publish("user:nobody", "note.sent", {"i": i})
            await asyncio.sleep(0.4)  # spread over several one-second intervals
        deadline = time.monotonic() + 10
        while True:
            response = await history(hub, step="1")
            assert response.status_code == 200, response.text
            points = response.json()["points"]
            if sum(p["published"] for p in points if not p["partial"]) == 6 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        stored = [p for p in points if not p["partial"]]
        assert sum(p["published"] for p in stored) == 6 and len([p for p in stored if p["published"]]) >= 2
        assert points[-1]["partial"] is True  # the current interval, not stored yet
        # A coarser step adds the intervals up.
        coarse = (await history(hub, step="3600")).json()["points"]
        assert sum(p["published"] for p in coarse) == 6 and len(coarse) <= 2
        ranged = (await history(hub, **{"from": _iso(started - 60), "to": _iso(started - 30)})).json()
        assert ranged["points"] == []
        for params in ({"from": "yesterday"}, {"to": "2026-12-01T10:00:00"}, {"step": "0"}, {"step": "x"},
                       {"step": "nan"}, {"from": _iso(started), "to": _iso(started - 10)},
                       {"from": "2000-01-01T00:00:00Z", "step": "1"}):
            refused = await history(hub, **params)
            assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_message", params
    finally:
        hub.stop()


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


async def test_the_admin_page_keeps_its_own_chart_without_the_plugin(tmp_path: Path) -> None:
    import httpx

    enabled = start_hub(tmp_path / "on", {"HUB_DEV": "1"})
    disabled = start_hub(tmp_path / "off", {"HUB_DEV": "1", "HUB_PLUGINS": "presence"})
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            on = (await http.get(enabled.url + "/admin")).text
            off = (await http.get(disabled.url + "/admin")).text
        assert 'id="rate-chart-wrap" data-replaceable hidden' in on and 'data-replaces="rate-chart-wrap"' in on
        assert 'id="rate-chart-wrap" data-replaceable>' in off and "panel-analytics" not in off
    finally:
        enabled.stop()
        disabled.stop()
