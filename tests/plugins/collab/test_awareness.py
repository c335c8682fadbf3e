"""Awareness over Socket.IO: relayed at once, removed when the connection ends or the state is not renewed."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.testing import start_hub, welcomed
from hub_plugins.collab.protocol import AwarenessEntry, decode_awareness, encode_awareness


def removal_of(client: int) -> Callable[[Any], bool]:
    """Matches an awareness event that removes ``client``."""
    return lambda data: any(e.client == client and e.left for e in decode_awareness(data["data"]["update"]))


async def test_awareness_is_relayed_then_removed_by_disconnect_and_by_timeout(tmp_path: Path) -> None:
    hub = start_hub(tmp_path / "hub", {"HUB_PLUGIN_COLLAB_AWARENESS_TIMEOUT": "1"})
    try:
        watcher, leaver, silent = (await welcomed(hub, "watcher"), await welcomed(hub, "leaver"),
                                   await welcomed(hub, "silent"))
        for client in (watcher, leaver, silent):
            assert (await client.call("subscribe", {"topic": "collab:room"}))["ok"]
        cursor = '{"user":{"name":"leaver"},"cursor":3}'
        assert (await leaver.call("collab.awareness", {"document": "room",
                                                        "update": encode_awareness([AwarenessEntry(11, 1, cursor)])}))["ok"]
        seen = (await watcher.wait_for("collab.awareness"))[0]
        assert decode_awareness(seen["data"]["update"]) == [AwarenessEntry(11, 1, cursor)]
        # A newcomer's sync carries the states present.
        synced = await silent.call("collab.sync", {"document": "room"})
        assert [e.client for e in decode_awareness(synced["awareness"])] == [11]

        await leaver.close()
        gone = (await watcher.wait_for("collab.awareness", where=removal_of(11), timeout=5))[0]
        assert decode_awareness(gone["data"]["update"]) == [AwarenessEntry(11, 2, "null")]

        # A state that is not renewed goes after awareness_timeout, though its connection stays.
        assert (await silent.call("collab.awareness", {"document": "room",
                                                        "update": encode_awareness([AwarenessEntry(22, 5, "{}")])}))["ok"]
        sent = time.monotonic()
        await watcher.wait_for("collab.awareness", where=removal_of(22), timeout=5)
        assert 0.9 <= time.monotonic() - sent < 4
        bad = await silent.call("collab.awareness", {"document": "room", "update": b"\x01\x01"})
        assert bad["error"]["code"] == "invalid_message"
        for client in (watcher, silent):
            await client.close()
    finally:
        hub.stop()
