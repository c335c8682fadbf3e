"""Plugins' panels in a real browser: a third-party plugin's cards appear and work, a disabled plugin's do not.

The hub here runs the test plugin ``paneltest`` (tests/support/hub_paneltest.py)
with the built-ins but presence, disabled through ``HUB_PLUGINS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from hub.testing import RunningHub, start_hub
from tests.support import plugin_site, with_site

from .conftest import sign_in


@pytest.fixture(scope="module")
def console_hub(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[RunningHub]:
    """Overrides conftest's hub: the panel test plugin on, presence off."""
    data_dir = tmp_path_factory.mktemp("panels-hub")
    site = plugin_site(data_dir / "site", "hub_paneltest", "paneltest")
    hub = start_hub(
        data_dir,
        env={
            "HUB_DEV": "1",
            "HUB_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'hub.db'}",
            "HUB_PLUGINS": "paneltest,notifications,upload_progress,doc_processing",
            "HUB_PING_INTERVAL": "2",
            "HUB_PING_TIMEOUT": "3",
            "PYTHONPATH": with_site(site),
        },
    )
    yield hub
    hub.stop()


def test_a_plugins_panel_appears_and_works(open_page: Callable[[str], Any], console_hub: RunningHub) -> None:
    page = open_page("/")
    sign_in(page, "gina")
    panel = page.locator("#panel-paneltest")
    panel.get_by_role("heading", name="Panel test").wait_for()
    # mount(ctx) ran with the signed-in user and the panel's own identity.
    panel.locator(".paneltest-output").filter(has_text="Mounted paneltest of paneltest for gina").wait_for()

    # The connected hub client and the api() helper, from the panel's own module.
    panel.get_by_role("button", name="Ping the plugin").click()
    panel.locator(".paneltest-output").filter(has_text="pong gina, api gina").wait_for()

    # Live events reach the panel's handlers.
    result = httpx.post(
        f"{console_hub.url}/api/publish",
        json={"topic": "user:gina", "type": "paneltest.poked", "data": {"n": 7}},
        headers=console_hub.headers(),
        timeout=10,
    )
    assert result.status_code == 201, result.text
    panel.locator(".paneltest-events li", has_text="poked 7").wait_for()

    # Ordered by `order`: the test plugin's card (5) comes before the built-ins' (10...).
    ids = page.locator("section[data-panel]").evaluate_all("cards => cards.map(c => c.dataset.panel)")
    assert ids == ["paneltest", "paneltest-broken", "upload", "notifications", "documents"], ids


def test_a_disabled_plugins_panel_is_absent_and_the_page_still_works(
    open_page: Callable[[str], Any], console_hub: RunningHub
) -> None:
    page = open_page("/")
    sign_in(page, "hank")
    assert page.locator("#panel-presence").count() == 0
    assert page.locator("#room-name").count() == 0

    # Another built-in's panel still works on the same page.
    response = httpx.post(
        f"{console_hub.url}/api/notifications",
        json={"users": ["hank"], "title": "Hi", "body": "presence is off", "id": "hank-1"},
        headers=console_hub.headers(),
        timeout=10,
    )
    assert response.status_code == 201, response.text
    page.locator("#notification-list li[data-id='hank-1']").wait_for()
    page.locator("#notification-badge[data-count='1']").wait_for()


def test_a_panel_that_fails_says_so_and_the_others_carry_on(open_page: Callable[[str], Any]) -> None:
    page = open_page("/")
    sign_in(page, "ivy")
    page.locator("#panel-paneltest-broken [role='alert']").filter(has_text="broken on purpose").wait_for()
    page.locator("#panel-paneltest[data-mounted='true']").wait_for()
    page.locator("#panel-notifications #notification-empty").wait_for()


def test_an_admin_panel_is_mounted_on_the_admin_page(open_page: Callable[[str], Any]) -> None:
    admin = open_page("/admin")
    admin.get_by_label("User name").fill("root")
    admin.get_by_role("button", name="Sign in").click()
    panel = admin.locator("#panel-paneltest-admin")
    panel.locator(".paneltest-output").filter(has_text="Mounted paneltest-admin of paneltest for root").wait_for()
    # The admin page's own cards are there too; the demo page's panels are not.
    admin.locator("#admin-status").filter(has_text="live").wait_for()
    assert admin.locator("#panel-paneltest").count() == 0

