"""The built-in plugins' own figures reach the stream: uploads, notifications, presence, document jobs."""

from __future__ import annotations

from pathlib import Path

from hub.panels import ConsolePanel
from hub.testing import start_hub, welcomed

from .support import FAST, next_tick

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(5000)


def _value(data: dict, plugin: str, series: str) -> float:
    figure = data["plugins"].get(plugin, {}).get(series)
    return figure["total"] if isinstance(figure, dict) else (figure if figure is not None else -1)


async def test_the_built_in_plugins_figures_are_streamed(tmp_path: Path) -> None:
    hub = start_hub(tmp_path / "hub", FAST)
    try:
        admin = await welcomed(hub, "root", ("admin",))
        assert (await admin.call("subscribe", {"topic": "stats:cluster"}))["ok"]
        alice = await welcomed(hub, "alice")
        assert (await alice.call("subscribe", {"topic": "presence:lobby"}))["ok"]
        assert (await alice.call("subscribe", {"topic": "presence:kitchen"}))["ok"]
        async with hub.http() as http:
            sent = await http.post("/api/notifications", headers=hub.headers(),
                                   json={"users": ["alice"], "title": "Hi", "body": "there", "id": "n-1"})
            assert sent.status_code in (200, 201), sent.text
            read = await http.post("/api/notifications/read", headers=hub.headers("alice", ()), json={"ids": ["n-1"]})
            assert read.status_code == 200, read.text
            uploaded = await http.post("/api/uploads", headers=hub.headers("alice", ()), files={"file": ("a.png", PNG)})
            assert uploaded.status_code in (200, 201), uploaded.text

        def reported(data: dict) -> bool:
            return (_value(data, "presence", "hub_presence_members") == 2
                    and _value(data, "presence", "hub_presence_rooms") == 2
                    and _value(data, "notifications", "hub_notifications_created_total") == 1
                    and _value(data, "notifications", "hub_notifications_read_total") == 1
                    and _value(data, "upload_progress", "hub_upload_progress_received_bytes_total") == len(PNG)
                    and _value(data, "upload_progress", "hub_upload_progress_in_progress") == 0)

        data = await next_tick(admin, reported)
        assert _value(data, "doc_processing", "hub_doc_processing_processing") == 0
        await alice.close()
        await admin.close()
    finally:
        hub.stop()


def test_a_panel_replaces_only_an_element_id() -> None:
    import pytest

    with pytest.raises(ValueError, match="replaces"):
        ConsolePanel("x", "X", "<p></p>", replaces="not an id!")
