"""The application's rule (a ``collab_access`` service of its own plugin) decides who reads and who writes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pycrdt

from hub.testing import SocketRecorder, start_hub

HERE = Path(__file__).parent


def site_with_the_rule(target: Path) -> Path:
    """A directory that, on the hub's PYTHONPATH, installs the plugin ``matter`` (collab_matter.py)."""
    target.mkdir(parents=True)
    shutil.copy(HERE / "collab_matter.py", target / "collab_matter.py")
    info = target / "collab_matter-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: collab_matter\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[hub.plugins]\nmatter = collab_matter\n")
    return target


def update_of(text: str) -> bytes:
    doc: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
    doc.get("content", type=pycrdt.Text).insert(0, text)
    return doc.get_update()


async def test_the_applications_rule_decides(tmp_path: Path) -> None:
    site = site_with_the_rule(tmp_path / "site")
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    hub = start_hub(tmp_path / "hub", {"PYTHONPATH": path})
    clients = []
    try:
        async def connect(user: str, **claims: list[str]) -> SocketRecorder:
            client = await SocketRecorder().connect(hub, hub.token(user, **claims))
            clients.append(client)
            await client.wait_for("hub.welcome")
            return client

        lawyer = await connect("lawyer", lawyer_of=["7"])
        client = await connect("client", client_of=["7"])
        stranger = await connect("stranger")
        topic = {"topic": "collab:matter-7-statement"}
        assert (await lawyer.call("subscribe", topic))["snapshot"]["writable"] is True
        assert (await client.call("subscribe", topic))["snapshot"]["writable"] is False
        refused = await stranger.call("subscribe", topic)
        assert refused["ok"] is False and refused["error"]["code"] == "forbidden"
        assert (await stranger.call("collab.sync", {"document": "matter-7-statement"}))["error"]["code"] == "forbidden"

        document = {"document": "matter-7-statement"}
        assert (await lawyer.call("collab.update", {**document, "update": update_of("Facts.")}))["ok"]
        assert (await client.call("collab.update", {**document, "update": update_of("No.")}))["error"]["code"] == "forbidden"
        await client.wait_for("collab.update")  # the client reads the lawyer's change
        # Documents the rule does not claim keep the default: anyone writes.
        assert (await stranger.call("collab.update", {"document": "notes", "update": update_of("mine")}))["ok"]
        async with hub.http() as http:
            text = await http.get("/api/collab/matter-7-statement", headers={"authorization": f"Bearer {hub.token('client', client_of=['7'])}"})
            assert text.text == "Facts."
            hidden = await http.get("/api/collab/matter-7-statement", headers=hub.headers("stranger", ()))
            assert hidden.status_code == 403
    finally:
        for opened in clients:
            await opened.close()
        hub.stop()
