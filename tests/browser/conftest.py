"""Browser tests of the web console: Debian's Chromium, driven by Playwright for Python, against a real hub.

Playwright cannot download its own browser here, so it launches ``/usr/bin/chromium``
(``scripts/setup-browser.sh`` installs it). Without Chromium or Playwright these tests
skip with the reason, or fail when ``HUB_REQUIRE_BROWSER=1`` (as in CI).

Every page a test opens is screenshotted when the test ends, pass or fail, to
``artifacts/screenshots/<test>.png`` (then ``<test>-2.png``...).
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.testing import RunningHub, start_hub

CHROMIUM = os.environ.get("HUB_TEST_CHROMIUM", "/usr/bin/chromium")
# The machine's network is closed and tests may run as root: no sandbox, no calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PAGE_TIMEOUT_MS = 10_000


def _missing_browser() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium is not installed at {CHROMIUM} (run scripts/setup-browser.sh as root)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium for this module's tests."""
    reason = _missing_browser()
    if reason is not None:
        if os.environ.get("HUB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}, and HUB_REQUIRE_BROWSER=1")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=30_000)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def console_hub(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[RunningHub]:
    """A hub in development mode (so the console can mint tokens) on a SQLite file.

    SQLite whatever HUB_TEST_DATABASE_URL says: notifications and uploads need SQL.
    """
    data_dir = tmp_path_factory.mktemp("console-hub")
    hub = start_hub(
        data_dir,
        env={
            "HUB_DEV": "1",
            "HUB_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'hub.db'}",
            # A short ping cycle, so pages closed at the end of a test leave no long-poll behind.
            "HUB_PING_INTERVAL": "2",
            "HUB_PING_TIMEOUT": "3",
            "HUB_PLUGIN_DOC_PROCESSING_POLL_INTERVAL": "0.2",
        },
    )
    yield hub
    hub.stop()


@pytest.fixture
def open_page(browser: Any, console_hub: RunningHub, request: pytest.FixtureRequest) -> Iterator[Callable[[str], Any]]:
    """``open_page("/")``: a page of the console in a fresh browser context (its own session)."""
    contexts: list[Any] = []
    pages: list[Any] = []
    errors: dict[int, list[str]] = {}

    def open_(path: str = "/") -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        seen = errors.setdefault(id(page), [])
        page.on("pageerror", lambda exc: seen.append(str(exc)))
        page.goto(console_hub.url + path)
        pages.append(page)
        return page

    yield open_
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    for index, page in enumerate(pages):
        suffix = "" if index == 0 else f"-{index + 1}"
        try:
            page.screenshot(path=str(SCREENSHOTS / f"{name}{suffix}.png"), full_page=True, timeout=5_000)
        except Exception as exc:  # a screenshot must never hide the test's own outcome
            print(f"screenshot of {name}{suffix} failed: {exc}")
    for context in contexts:
        context.close()
    failures = {f"page {index + 1}": errors[id(page)] for index, page in enumerate(pages) if errors[id(page)]}
    assert not failures, f"JavaScript errors: {failures}"


def sign_in(page: Any, user: str, admin: bool = False) -> None:
    """Sign in on the demo page with a development token and wait for the hub's welcome."""
    page.get_by_label("User name").fill(user)
    if admin:
        page.get_by_label("Admin role", exact=False).check()
    page.get_by_role("button", name="Sign in").click()
    page.locator("#connection-status").filter(has_text=f"Connected as {user}").wait_for()
