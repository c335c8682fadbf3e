"""The analytics panel on /admin, in a real browser: the stored intervals at once, then live ticks.

The hub stores an interval every second (``HUB_PLUGIN_ANALYTICS_ROLLUP_SECONDS=1``),
so a page opened after a few seconds of traffic has several to draw.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from hub.testing import RunningHub, start_hub


@pytest.fixture(scope="module")
def console_hub(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[RunningHub]:
    """Overrides conftest's hub: analytics with one-second intervals and half-second ticks."""
    data_dir = tmp_path_factory.mktemp("analytics-hub")
    hub = start_hub(data_dir, env={
        "HUB_DEV": "1",
        "HUB_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'hub.db'}",
        "HUB_PING_INTERVAL": "2",
        "HUB_PING_TIMEOUT": "3",
        "HUB_PLUGIN_ANALYTICS_ROLLUP_SECONDS": "1",
        "HUB_PLUGIN_ANALYTICS_TICK_SECONDS": "0.5",
    })
    yield hub
    hub.stop()


def publish(hub: RunningHub, count: int) -> None:
    with httpx.Client(base_url=hub.url, headers=hub.headers(), timeout=10) as http:
        for number in range(count):
            assert http.post("/api/publish", json={"topic": "user:zoe", "type": "demo.ping", "data": {"n": number}}).status_code == 201


def test_the_dashboard_draws_history_at_once_then_goes_live(open_page: Callable[[str], Any], console_hub: RunningHub) -> None:
    # Traffic over several stored intervals before anyone looks.
    for _ in range(4):
        publish(console_hub, 5)
        time.sleep(0.6)  # spread the traffic over several one-second intervals on purpose
    admin = open_page("/admin")
    admin.get_by_label("User name").fill("root")
    admin.get_by_role("button", name="Sign in").click()
    panel = admin.locator("#panel-analytics")
    panel.get_by_role("heading", name="Cluster analytics").wait_for()
    # At once: the history's intervals (several), drawn by uPlot, and the core's own chart replaced.
    admin.wait_for_function(
        "() => Number(document.querySelector('#panel-analytics').dataset.historyPoints) >= 3", timeout=10_000
    )
    assert panel.locator("#an-rate-chart canvas").count() == 1
    assert panel.locator("#an-latency-chart canvas").count() == 1
    assert admin.locator("#rate-chart-wrap").is_hidden()
    drawn = admin.evaluate("() => window.uPlot !== undefined")
    assert drawn
    # Then live: ticks arrive, and a burst shows in events/s.
    admin.wait_for_function("() => Number(document.querySelector('#panel-analytics').dataset.ticks) >= 2",
                            timeout=10_000)
    panel.locator("#an-health", has_text="ok / local").wait_for()
    publish(console_hub, 10)
    admin.wait_for_function("() => Number(document.querySelector('#an-events').textContent) > 0", timeout=10_000)
    panel.locator("#analytics-status", has_text="Live").wait_for()
