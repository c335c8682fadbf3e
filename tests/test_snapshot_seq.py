"""A durable kind's ``snapshot_for`` knows the seq the subscribe reply carries (and ``since``, ``recovered``)."""

from __future__ import annotations

from pathlib import Path

from hub.testing import start_hub, welcomed
from tests.support import plugin_site, with_site


async def test_the_snapshot_is_told_the_replys_seq(tmp_path: Path) -> None:
    site = plugin_site(tmp_path / "site", "hub_seqsnap", "seqsnap")
    hub = start_hub(tmp_path / "hub", env={"PYTHONPATH": with_site(site)})
    try:
        for number in range(3):
            await hub.publish("seqsnap:a", "seqsnap.tick", {"n": number})
        client = await welcomed(hub, "u")
        reply = await client.call("subscribe", {"topic": "seqsnap:a"})
        assert reply["seq"] == 3 and reply["snapshot"] == {"seq": 3, "since": None, "recovered": False}
        resumed = await client.call("subscribe", {"topic": "seqsnap:a", "since": 1})
        assert resumed["snapshot"] == {"seq": 3, "since": 1, "recovered": True}
        await client.close()
    finally:
        hub.stop()
