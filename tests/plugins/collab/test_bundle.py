"""The browser's Yjs (plugins/collab/static/yjs.mjs) is what the pinned npm packages build, and the hub serves it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from hub.testing import RunningHub, hub_server  # noqa: F401  (fixture)
from tests.test_node_client import node  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.node
def test_the_committed_bundle_is_what_the_lock_file_builds(node: str) -> None:  # noqa: F811
    completed = subprocess.run([str(ROOT / "scripts" / "build-collab-bundle.sh"), "--check"], capture_output=True,
                               text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr


def test_the_hub_serves_the_browser_modules_without_a_token(hub_server: RunningHub) -> None:  # noqa: F811
    for name, needle in (("hub-collab.mjs", "export class HubDocProvider"), ("yjs.mjs", "awarenessProtocol"),
                         ("yjs-LICENSE.txt", "MIT")):
        response = httpx.get(f"{hub_server.url}/api/collab/static/{name}", timeout=10)
        assert response.status_code == 200 and needle in response.text, name
    assert httpx.get(f"{hub_server.url}/api/collab/static/secret.py", timeout=10).status_code == 404
