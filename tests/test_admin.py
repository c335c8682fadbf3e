"""Admin: searching the event log and replaying events, over HTTP and from the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.testing import RunningHub, SocketRecorder, start_hub


@pytest.fixture
def hub(tmp_path: Path, database_url: str):
    running = start_hub(tmp_path / "hub", env={"HUB_DATABASE_URL": database_url})
    yield running
    running.stop()


def admin(hub: RunningHub) -> dict[str, str]:
    return hub.headers("root", ("admin",))


async def test_non_admins_get_403_on_admin_routes(hub: RunningHub) -> None:
    async with hub.http() as http:
        for roles in ((), ("service",)):
            headers = hub.headers("someone", roles)
            assert (await http.get("/api/admin/events", headers=headers)).status_code == 403
            response = await http.post("/api/admin/replay", json={"topic": "user:a"}, headers=headers)
            assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
            assert (await http.get("/api/admin/replays", headers=headers)).status_code == 403
        assert (await http.get("/api/admin/events")).status_code == 401


async def test_search_filters_and_pages(hub: RunningHub) -> None:
    for n in range(7):
        await hub.publish("user:ann", "order.placed" if n % 2 else "order.paid", {"n": n})
    await hub.publish("user:ben", "order.placed", {"n": 100})
    async with hub.http() as http:
        page = (await http.get("/api/admin/events", params={"topic": "user:ann", "limit": 3}, headers=admin(hub))).json()
        assert [e["seq"] for e in page["events"]] == [1, 2, 3] and page["next"]
        rest = (await http.get("/api/admin/events", params={"topic": "user:ann", "after": page["next"]},
                               headers=admin(hub))).json()
        assert [e["seq"] for e in rest["events"]] == [4, 5, 6, 7] and rest["next"] is None
        placed = (await http.get("/api/admin/events", params={"type": "order.placed"}, headers=admin(hub))).json()
        assert sorted(e["data"]["n"] for e in placed["events"]) == [1, 3, 5, 100]
        ranged = (await http.get("/api/admin/events", params={"topic": "user:ann", "seq_from": 2, "seq_to": 3},
                                 headers=admin(hub))).json()
        assert [e["seq"] for e in ranged["events"]] == [2, 3]
        by_user = (await http.get("/api/admin/events", params={"user": "ben"}, headers=admin(hub))).json()
        assert [e["topic"] for e in by_user["events"]] == ["user:ben"]
        future = (await http.get("/api/admin/events", params={"ts_from": "2999-01-01T00:00:00.000Z"},
                                 headers=admin(hub))).json()
        assert future["events"] == []
        bad = await http.get("/api/admin/events", params={"seq_from": "x"}, headers=admin(hub))
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_message"


async def test_replay_redelivers_with_meta_and_is_recorded(hub: RunningHub) -> None:
    originals = [await hub.publish("user:cat", "doc.ready", {"n": n}) for n in range(3)]
    client = await SocketRecorder().connect(hub, hub.token("cat"))
    await client.wait_for("doc.ready", count=3)
    await client.call("ack", {"ids": [o["id"] for o in originals]})
    async with hub.http() as http:
        dry = (await http.post("/api/admin/replay", json={"topic": "user:cat", "dry_run": True}, headers=admin(hub))).json()
        assert dry["count"] == 3 and dry["dry_run"] is True
        assert len(client.of_type("doc.ready")) == 3  # a dry run sends nothing
        done = (await http.post("/api/admin/replay", json={"topic": "user:cat"}, headers=admin(hub))).json()
        assert done["count"] == 3 and done["next"] is None
        copies = (await client.wait_for("doc.ready", lambda e: e.get("meta", {}).get("replay"), count=3))
        assert [c["meta"]["replay_of"] for c in copies] == [o["id"] for o in originals]
        assert [c["data"]["n"] for c in copies] == [0, 1, 2]
        assert all(c["id"] not in {o["id"] for o in originals} and c["seq"] > 3 for c in copies)
        # To one named user instead.
        dan = await SocketRecorder().connect(hub, hub.token("dan"))
        await dan.wait_for("hub.welcome")
        await http.post("/api/admin/replay", json={"topic": "user:cat", "seq_to": 1, "to_user": "dan"}, headers=admin(hub))
        to_dan = (await dan.wait_for("doc.ready"))[0]
        assert to_dan["topic"] == "user:dan" and to_dan["meta"]["replay_of"] == originals[0]["id"]
        records = (await http.get("/api/admin/replays", headers=admin(hub))).json()["replays"]
        assert [(r["actor"], r["count"], r["dry_run"], r["target_user"]) for r in records] == [
            ("root", 1, False, "dan"), ("root", 3, False, None), ("root", 3, True, None)
        ]
        assert records[1]["filters"]["topic"] == "user:cat"
        empty = await http.post("/api/admin/replay", json={}, headers=admin(hub))
        assert empty.status_code == 400
    await client.close()
    await dan.close()


def test_cli_events_and_replay_with_progress(hub: RunningHub, tmp_path: Path) -> None:
    import asyncio

    async def seed() -> None:
        async with hub.http() as http:
            for n in range(450):
                response = await http.post("/api/publish", json={"topic": "user:eve", "type": "bulk.item", "data": {"n": n}},
                                           headers=hub.headers())
                assert response.status_code == 201

    asyncio.run(seed())
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    env.update(HUB_URL=hub.url, HUB_TOKEN=hub.token("root", ["admin"]))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hub", *args], env=env, capture_output=True, text=True, timeout=120)

    listed = cli("events", "--topic", "user:eve", "--limit", "5")
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.strip().splitlines()) == 5 and "bulk.item" in listed.stdout
    dry = cli("replay", "--topic", "user:eve", "--dry-run")
    assert dry.returncode == 0 and "450 event(s) match" in dry.stderr
    done = cli("replay", "--topic", "user:eve", "--seq-to", "450", "--yes")
    assert done.returncode == 0, done.stderr
    assert "replayed 450 event(s)" in done.stdout and "replaying" in done.stderr
    copies = cli("events", "--topic", "user:eve", "--seq-from", "451", "--limit", "1000", "--json")
    assert len(copies.stdout.strip().splitlines()) == 450
    env["HUB_TOKEN"] = hub.token("nobody")
    refused = cli("events", "--topic", "user:eve")
    assert refused.returncode != 0 and "403" in refused.stderr
