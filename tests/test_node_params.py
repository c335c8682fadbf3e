"""hub-client.js sends a kind's subscription parameters, and sends them again after a reconnect.

The viewer subscribes to ``items:board`` filtered on ``status: open`` (the test
plugin ``tests/support/hub_listing.py``); its connection drops while one change
in the filter and one out of it are made; the resubscription carries the filter
and ``since``, so the backlog reaches it through the same view, and it goes on
receiving the filtered view only.
"""

from __future__ import annotations

from hub.testing import RunningHub
from tests.test_node_client import node, run_script  # noqa: F401  (the `node` fixture)
from tests.test_views import hub  # noqa: F401  (the `hub` fixture, with the listing plugin)


def test_hub_client_js_subscribes_with_params_and_resubscribes_with_them(node: str, hub: RunningHub) -> None:  # noqa: F811
    result = run_script(node, hub, "hub_client_params.mjs", HUB_TOKEN=hub.token("viewer"),
                        HUB_WRITER_TOKEN=hub.token("writer"))
    assert result["first"]["replaced"] is False, result
    assert result["first"]["snapshot"] == {"items": []}, result
    opened, _, closed = result["seqs"]
    in_filter, _ = result["away"]
    # The resubscription was a subscribe with the filter: the snapshot is the filtered list.
    assert result["again"]["topic"] == "items:board", result
    assert result["again"]["reply"]["snapshot"] == {"items": ["c"]}, result
    assert result["got"] == [["item.changed", opened], ["item.removed", closed], ["item.changed", in_filter],
                             ["item.changed", result["last"]]], result
