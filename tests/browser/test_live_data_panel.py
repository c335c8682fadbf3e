"""The live_data panel in a real browser: a table that follows a collection as a service changes it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from hub.testing import RunningHub

from .conftest import sign_in


def _write(hub: RunningHub, method: str, key: str, record: dict[str, Any] | None = None) -> None:
    response = httpx.request(method, f"{hub.url}/api/live/demo-cases/{key}", json=record, headers=hub.headers(), timeout=10)
    assert response.status_code == 200, response.text


def test_the_live_table_follows_the_collection(open_page: Callable[[str], Any], console_hub: RunningHub) -> None:
    _write(console_hub, "PUT", "c1", {"status": "open", "title": "Lease"})
    page = open_page("/")
    sign_in(page, "clerk", admin=True)  # a collection nobody configured: admins and services read it
    panel = page.locator("#panel-live-data")
    panel.get_by_label("Collection").fill("demo-cases")
    panel.get_by_label("Filter (JSON, optional)").fill('{"status": "open"}')
    panel.get_by_role("button", name="Watch").click()
    page.locator("#live-status").filter(has_text="Watching demo-cases").wait_for()
    page.locator("#live-rows tr[data-key='c1']").filter(has_text="Lease").wait_for()

    _write(console_hub, "PUT", "c2", {"status": "open", "title": "Will"})  # arrives
    page.locator("#live-rows tr[data-key='c2']").filter(has_text="Will").wait_for()
    _write(console_hub, "PATCH", "c1", {"title": "Lease, signed"})  # changes in place
    page.locator("#live-rows tr[data-key='c1']").filter(has_text="Lease, signed").wait_for()
    _write(console_hub, "PATCH", "c2", {"status": "closed"})  # leaves the filter
    page.locator("#live-rows tr[data-key='c2']").wait_for(state="detached")
    _write(console_hub, "DELETE", "c1")  # deleted
    page.locator("#live-rows tr[data-key='c1']").wait_for(state="detached")
    assert page.locator("#live-rows tr").count() == 0
    assert "0 records" in page.locator("#live-caption").inner_text()
