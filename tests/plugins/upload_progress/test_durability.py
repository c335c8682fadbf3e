"""An upload's final state outlives the hub process, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from hub.testing import start_hub

from .support import MB, connect, new_id, scanned_pdf, upload


async def test_final_states_survive_a_restart(tmp_path: Path, database_url: str) -> None:
    env = {"HUB_DATABASE_URL": database_url}
    done_id, failed_id, claimed_id = new_id(), new_id(), new_id()
    hub = start_hub(tmp_path / "hub", env=env)
    try:
        owner = await connect(hub, "alice")
        for upload_id in (done_id, failed_id, claimed_id):
            assert (await owner.call("subscribe", {"topic": f"upload:{upload_id}"}))["ok"]
        completed = await upload(hub, "alice", scanned_pdf(tmp_path / "a.pdf", MB), done_id)
        assert completed.status_code == 201
        junk = tmp_path / "junk.pdf"
        junk.write_bytes(b"\x00\x01\x02\x03" + os.urandom(2000))
        assert (await upload(hub, "alice", junk, failed_id)).status_code == 415
        await owner.wait_for("upload.failed")
        await owner.close()
    finally:
        hub.stop()

    hub = start_hub(tmp_path / "hub", env=env)
    try:
        back = await connect(hub, "alice")
        done = (await back.call("subscribe", {"topic": f"upload:{done_id}"}))["snapshot"]
        assert done["state"] == "completed" and done["bytes"] == MB
        # The same file, under a fresh signed link.
        assert done["url"].partition("?")[0] == completed.json()["url"].partition("?")[0]
        failed = (await back.call("subscribe", {"topic": f"upload:{failed_id}"}))["snapshot"]
        assert failed["state"] == "failed" and failed["error"]["code"] == "invalid_message"
        # A claim made before the restart still holds against another user.
        stranger = await connect(hub, "mallory")
        assert (await stranger.call("subscribe", {"topic": f"upload:{claimed_id}"}))["error"]["code"] == "forbidden"
        taken = await upload(hub, "mallory", scanned_pdf(tmp_path / "m.pdf", 1000), claimed_id)
        assert taken.status_code == 409
        # The file too (this hub has another port: the URL's path is what stays without public_url).
        async with hub.http() as http:
            assert (await http.get(httpx.URL(done["url"]).raw_path.decode())).status_code == 200
        await back.close()
        await stranger.close()
    finally:
        hub.stop()
