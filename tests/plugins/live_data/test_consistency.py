"""Snapshot, then every change, with no gap and no repeat, under concurrent writers (HTTP source)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from hub.testing import SocketRecorder, start_hub, welcomed
from tests.support.cluster import eventually

from .support import LiveList, listing

WRITERS = 20
CHANGES = 1000
KEYS = 60


async def _writer(hub, number: int, count: int) -> None:
    rng = random.Random(number)
    async with hub.http() as http:
        for step in range(count):
            key = f"k{rng.randrange(KEYS)}"
            roll = rng.random()
            if roll < 0.15:
                response = await http.delete(f"/api/live/cases/{key}", headers=hub.headers())
            elif roll < 0.35:
                response = await http.patch(f"/api/live/cases/{key}", json={"n": step}, headers=hub.headers())
                if response.status_code == 404:
                    continue
            else:
                record = {"status": rng.choice(["open", "closed"]), "owner": f"u{rng.randrange(3)}", "w": number}
                response = await http.put(f"/api/live/cases/{key}", json=record, headers=hub.headers())
            assert response.status_code == 200, response.text


async def test_concurrent_writers_and_a_subscriber_agree_with_the_table(tmp_path: Path, database_url: str) -> None:
    hub = start_hub(tmp_path / "hub", env={"HUB_DATABASE_URL": database_url})
    try:
        watcher = await welcomed(hub, "admin", ["admin"])
        filtered = await welcomed(hub, "admin2", ["admin"])
        writers = [asyncio.create_task(_writer(hub, number, CHANGES // WRITERS)) for number in range(WRITERS)]
        await asyncio.sleep(0)  # the subscriptions land while the writers are busy
        everything = LiveList(watcher, "live:cases")
        open_only = LiveList(filtered, "live:cases")
        while not any(task.done() for task in writers):
            reply = await everything.subscribe()
            if reply["seq"] > 50:
                break
            await asyncio.sleep(0.05)
        await open_only.subscribe(filter={"status": "open"})
        await asyncio.gather(*writers)
        final = await listing(hub, "cases")

        async def agreed() -> bool:
            everything.catch_up()
            open_only.catch_up()
            wanted = {key: record for key, record in final.items() if record["status"] == "open"}
            return everything.records == final and open_only.records == wanted

        await eventually(agreed, timeout=30)
        # A filtered subscriber sees seq with gaps; the unfiltered one every seq.
        seqs = [event["seq"] for event in everything.applied]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        await watcher.close()
        await filtered.close()
    finally:
        hub.stop()
