"""The shared editor on the demo page, in Chromium: two users in two pages see each other's text and cursors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from hub.testing import RunningHub
from tests.browser.conftest import sign_in


def open_document(page: Any, document: str) -> None:
    card = page.locator("#panel-collab")
    card.get_by_label("Document", exact=True).fill(document)
    card.get_by_role("button", name="Open").click()
    page.locator("#collab-status").filter(has_text=f"Editing {document}").wait_for()


def test_two_users_edit_one_text_and_see_each_others_cursors(
        open_page: Callable[[str], Any], console_hub: RunningHub) -> None:
    alice, bob = open_page("/"), open_page("/")
    sign_in(alice, "alice")
    sign_in(bob, "bob")
    open_document(alice, "panel-draft")
    open_document(bob, "panel-draft")

    alice.locator("#collab-text").click()
    alice.locator("#collab-text").press_sequentially("Hello from alice.")
    bob.wait_for_function("() => document.querySelector('#collab-text').value === 'Hello from alice.'")
    # Bob types at the end; alice gets it, and her caret stays where it was.
    bob.locator("#collab-text").click()
    bob.locator("#collab-text").press("End")
    bob.locator("#collab-text").press_sequentially(" And bob.")
    alice.wait_for_function("() => document.querySelector('#collab-text').value === 'Hello from alice. And bob.'")

    # Cursors: each page shows the other's, at its place in the text.
    alice.locator("#collab-view .collab-cursor[data-user='bob'][data-at='26']").wait_for()
    bob.locator("#collab-text").press("Home")
    alice.locator("#collab-view .collab-cursor[data-user='bob'][data-at='0']").wait_for()
    bob.locator("#collab-view .collab-cursor[data-user='alice']").wait_for()
    bob.locator("#collab-peers li[data-user='alice']").wait_for()

    # What the pages show is what the hub stored.
    stored = httpx.get(f"{console_hub.url}/api/collab/panel-draft", headers=console_hub.headers(), timeout=10)
    assert stored.text == "Hello from alice. And bob."

    # Alice closes her page: her cursor leaves bob's view.
    alice.context.close()
    bob.locator("#collab-peers li[data-user='alice']").wait_for(state="detached")
