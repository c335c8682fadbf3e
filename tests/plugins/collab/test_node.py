"""collab with yjs under Node: the hub's provider on two hub processes, the stock y-websocket provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.test_node_client import node  # noqa: F401  (fixture)
from tests.test_scale_out import Pair, redis_url  # noqa: F401  (fixture)

from .support import run_node

pytestmark = pytest.mark.node


@pytest.fixture
async def pair(tmp_path: Path, redis_url: str, postgres_database: str) -> AsyncIterator[Pair]:  # noqa: F811
    hubs = Pair(tmp_path, redis_url, postgres_database, HUB_PLUGIN_COLLAB_COMPACT_AFTER="300")
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
