"""10,000 small edits, compacted in the background: the stored size stays near the document's own."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pycrdt

from hub.testing import start_hub, welcomed
from tests.support.cluster import eventually

EDITS = 10_000


async def test_ten_thousand_small_edits_compact_to_near_the_encoded_size(tmp_path: Path) -> None:
    # SQLite only, for the time it takes; PostgreSQL compacts under the two-process test's load.
    hub = start_hub(tmp_path / "hub", { "HUB_RATE_LIMIT": "100000", "HUB_RATE_BURST": "100000",
        "HUB_PLUGIN_COLLAB_COMPACT_AFTER": "500", "HUB_PLUGIN_COLLAB_COMPACT_DELAY": "0.2",
    })
    try:
        client = await welcomed(hub, "alice")
        doc = pycrdt.Doc()
        text = doc.get("content", type=pycrdt.Text)
        rand = random.Random(5)
        updates: list[bytes] = []
        # Each transaction's own update, as an editor sends it (a diff against a state vector
        # would carry the whole delete set every time).
        doc.observe(lambda event: updates.append(event.update))
        for _ in range(EDITS):
            if len(text) and rand.random() < 0.3:
                del text[rand.randrange(len(text))]
            else:
                text.insert(rand.randrange(len(text) + 1), rand.choice("abcdefgh "))
        for start in range(0, EDITS, 200):  # 200 requests in flight at a time
            replies = await asyncio.gather(*(client.call("collab.update", {"document": "long", "update": update})
                                             for update in updates[start:start + 200]))
            assert all(reply["ok"] for reply in replies), [r for r in replies if not r["ok"]][:1]
        await client.close()

        async with hub.http() as http:
            async def compacted() -> dict[str, int] | None:
                storage = (await http.get("/api/collab/long/storage", headers=hub.headers())).json()
                return storage if storage["stored_updates"] < 500 else None

            storage = await eventually(compacted, timeout=30)
            assert (await http.get("/api/collab/long", headers=hub.headers())).text == str(text)
        encoded = len(doc.get_update())
        assert storage["encoded_bytes"] <= encoded * 1.1 + 64, storage
        # The snapshot plus what came after the last compaction: within a small factor of the document.
        assert storage["stored_bytes"] <= 3 * encoded, (storage, encoded)
    finally:
        hub.stop()
