"""collab with yjs under Node: the hub's provider on two hub processes, the stock y-websocket provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hub.testing import start_hub

from tests.test_node_client import node  # noqa: F401  (fixture)
from tests.support.cluster import Pair

from .support import run_node

pytestmark = pytest.mark.node


@pytest.fixture
async def pair(tmp_path: Path, redis_url: str, postgres_database: str) -> AsyncIterator[Pair]:
    hubs = Pair(tmp_path, redis_url, postgres_database, HUB_PLUGIN_COLLAB_COMPACT_AFTER="40",
                 HUB_PLUGIN_COLLAB_COMPACT_DELAY="0.05")
    hubs.start("a")
    hubs.start("b")
    yield hubs
    await hubs.close()


def test_two_editors_on_two_processes_converge_to_what_is_stored(node: str, pair: Pair) -> None:  # noqa: F811
    a, b = pair.hubs
    result = run_node(node, a, "collab_converge.mjs", HUB_URL_B=b.url, COLLAB_DOCUMENT="draft",
                      TOKEN_A=a.token("alice"), TOKEN_B=b.token("bob"), SERVICE_TOKEN=a.token("svc", ["service"]),
                      COLLAB_EDITS="1000")
    assert result["converged"] and result["server_a"] and result["server_b"], result
    assert result["length"] > 100, result
    assert result["awareness_ms"] < 1000, result  # across Redis, well under a second
    storage = httpx.get(f"{a.url}/api/collab/draft/storage", headers=a.headers()).json()
    assert storage["stored_bytes"] <= 3 * storage["encoded_bytes"], storage  # compacted while they typed


def test_the_stock_y_websocket_provider_syncs_through_the_compatible_route(node: str, tmp_path: Path) -> None:  # noqa: F811
    hub = start_hub(tmp_path / "hub")
    try:
        result = run_node(node, hub, "collab_ywebsocket.mjs", COLLAB_DOCUMENT="ws-doc", TOKEN=hub.token("carol"),
                          TOKEN_HUB=hub.token("dave"), TOKEN_VIEWER=hub.token("vera", ["viewer"]))
    finally:
        hub.stop()
    assert result["first"] == result["second"] == result["hub"] == result["stored"], result
    assert not result["viewer_seen"] and "VIEWER" not in result["stored"], result
    assert "from y-websocket" in result["stored"] and "from the hub provider" in result["stored"]
    assert result["reused"] == "error", result  # an unknown ticket: the handshake is refused (403)


def test_awareness_shows_a_peer_promptly_and_removes_it_when_it_leaves(node: str, tmp_path: Path) -> None:  # noqa: F811
    hub = start_hub(tmp_path / "hub", {"HUB_PLUGIN_COLLAB_AWARENESS_TIMEOUT": "5"})
    try:
        result = run_node(node, hub, "collab_awareness.mjs", COLLAB_DOCUMENT="aware",
                          TOKEN_A=hub.token("alice"), TOKEN_B=hub.token("bob"))
    finally:
        hub.stop()
    # Well under a second each, with room for a loaded machine.
    assert result["shown_ms"] < 1000 and result["removed_ms"] < 1000, result


def test_restoring_a_version_converges_every_editor(node: str, tmp_path: Path) -> None:  # noqa: F811
    hub = start_hub(tmp_path / "hub")
    try:
        result = run_node(node, hub, "collab_restore.mjs", COLLAB_DOCUMENT="clause",
                          TOKEN_A=hub.token("alice"), TOKEN_B=hub.token("bob"))
    finally:
        hub.stop()
    assert result["saved"] == 201 and result["restored"] == 200, result
    assert result["a"] == result["b"] == result["stored"] == "The agreed clause.", result
    assert result["versions"] == ["agreed"] and any("Draft" in line for line in result["diff"]), result


def test_a_replaced_history_makes_every_editor_start_over_without_merging_stale_state(
        node: str, tmp_path: Path) -> None:  # noqa: F811
    hub = start_hub(tmp_path / "hub")
    try:
        result = run_node(node, hub, "collab_reset.mjs", COLLAB_DOCUMENT="replaced", TOKEN_A=hub.token("alice"),
                          TOKEN_B=hub.token("bob"), SERVICE_TOKEN=hub.token("svc", ["service"]))
    finally:
        hub.stop()
    assert result["deleted"] == 200 and result["epochs_differ"], result
    assert result["a"] == result["b"] == result["stored"] == "New history.", result
    assert result["resets"] == {"a": 1, "b": 1}, result
