"""The HTTP source: upsert, patch, delete, batches, idempotency, errors; and an application's own rule."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from hub.testing import RunningHub, SocketRecorder, start_hub

from .support import LiveList, listing

HERE = Path(__file__).parent


@pytest.fixture
def hub(tmp_path: Path):
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(HERE / "hub_live_rule.py", site / "hub_live_rule.py")
    info = site / "hub_live_rule-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hub_live_rule\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[hub.plugins]\nliverule = hub_live_rule\n")
    collections = {"teams": {"rule": "same_team"}, "orphan_rule": {"rule": "nobody_registered_this"}}
    running = start_hub(tmp_path / "hub", env={
        "HUB_PLUGIN_LIVE_DATA_COLLECTIONS": json.dumps(collections),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
    })
    yield running
    running.stop()


async def test_single_routes_and_idempotency(hub: RunningHub) -> None:
    async with hub.http() as http:
        first = await http.put("/api/live/items/a", json={"n": 1}, headers={**hub.headers(), "Idempotency-Key": "put-a-1"})
        again = await http.put("/api/live/items/a", json={"n": 1}, headers={**hub.headers(), "Idempotency-Key": "put-a-1"})
        assert first.status_code == again.status_code == 200
        assert first.json() == again.json() == {"key": "a", "seq": 1, "changed": True, "type": "live.added"}
        patched = await http.patch("/api/live/items/a", json={"m": 2}, headers=hub.headers())
        assert patched.json()["seq"] == 2 and patched.json()["type"] == "live.changed"
        assert (await listing(hub, "items")) == {"a": {"id": "a", "n": 1, "m": 2}}
        same = await http.put("/api/live/items/a", json={"n": 1, "m": 2}, headers=hub.headers())
        assert same.json() == {"key": "a", "seq": None, "changed": False}  # nothing changed: no event
        missing = await http.patch("/api/live/items/zz", json={"m": 2}, headers=hub.headers())
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        wrong_key = await http.put("/api/live/items/b", json={"id": "c"}, headers=hub.headers())
        assert wrong_key.status_code == 400 and wrong_key.json()["error"]["code"] == "invalid_message"
        big = await http.put("/api/live/items/b", json={"x": "y" * 70_000}, headers=hub.headers())
        assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"
        not_object = await http.put("/api/live/items/b", content=b"[1]", headers={**hub.headers(), "content-type": "application/json"})
        assert not_object.status_code == 400
        bad_name = await http.put("/api/live/bad name/b", json={}, headers=hub.headers())
        assert bad_name.status_code == 400
        deleted = await http.delete("/api/live/items/a", headers=hub.headers())
        assert deleted.json()["seq"] == 3
        gone = await http.delete("/api/live/items/a", headers=hub.headers())
        assert gone.json() == {"key": "a", "seq": None, "deleted": False}
        user = await http.put("/api/live/items/a", json={}, headers={"authorization": f"Bearer {hub.token('u')}"})
        assert user.status_code == 403 and user.json()["error"]["code"] == "forbidden"


async def test_batches_are_ordered_and_idempotent_by_id(hub: RunningHub) -> None:
    body = {"id": "batch-1", "changes": [
        {"op": "upsert", "key": "a", "record": {"n": 1}},
        {"op": "patch", "key": "a", "record": {"n": 2}},
        {"op": "patch", "key": "nope", "record": {"n": 2}},
        {"op": "upsert", "key": 7, "record": {"n": 7}},
        {"op": "delete", "key": "a"},
    ]}
    async with hub.http() as http:
        first = await http.post("/api/live/batch/changes", json=body, headers=hub.headers())
        again = await http.post("/api/live/batch/changes", json=body, headers=hub.headers())
        assert first.status_code == 200, first.text
        results = first.json()["results"]
        assert [result.get("seq") for result in results] == [1, 2, None, 3, 4]
        assert results[2]["error"]["code"] == "not_found"
        assert [result.get("seq") for result in again.json()["results"]][:2] == [1, 2]
        assert await listing(hub, "batch") == {"7": {"id": "7", "n": 7}}
        bad = await http.post("/api/live/batch/changes", json={"changes": [{"op": "rename", "key": "a"}]}, headers=hub.headers())
        assert bad.status_code == 400 and "changes[0].op" in bad.json()["error"]["message"]
        too_many = await http.post("/api/live/batch/changes", json={"changes": [{"op": "delete", "key": "a"}] * 1001},
                                   headers=hub.headers())
        assert too_many.status_code == 429 or too_many.json()["error"]["code"] == "limit_exceeded"


async def test_an_application_rule_decides_what_each_user_sees(hub: RunningHub) -> None:
    async with hub.http() as http:
        for key, team in (("1", "red"), ("2", "blue"), ("3", "red")):
            await http.put(f"/api/live/teams/{key}", json={"team": team}, headers=hub.headers())
            await http.put(f"/api/live/orphan_rule/{key}", json={"team": team}, headers=hub.headers())
    # A token with the application's own claim, which its rule reads.
    client = await SocketRecorder().connect(hub, hub.token("ann", teams=["red"]))
    await client.wait_for("hub.welcome")
    red = LiveList(client, "live:teams")
    await red.subscribe()
    assert set(red.records) == {"1", "3"}
    orphan = LiveList(client, "live:orphan_rule")
    await orphan.subscribe()
    assert orphan.records == {}  # a rule nobody registered shows nothing: it fails closed
    await client.close()
