"""The web console in a real browser against a running hub: every feature, as a person would use it.

Each test signs in through the page (a development token), acts through the page,
and checks what the page shows; the hub is driven from outside only where a
person could not (a service sending a notification, events for the admin to replay).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from hub.testing import RunningHub

from .conftest import sign_in

OCR_TIMEOUT_MS = 30_000


def test_two_users_see_each_other_and_each_other_typing(open_page: Callable[[str], Any]) -> None:
    alice, bob = open_page("/"), open_page("/")
    sign_in(alice, "alice")
    sign_in(bob, "bob")
    for page in (alice, bob):
        page.get_by_label("Room").fill("lobby")
        page.get_by_role("button", name="Join").click()
        page.locator("#presence-status").filter(has_text="In room lobby").wait_for()

    # Each sees the other in the member list (bob from alice's snapshot or joined event, and back).
    alice.locator("#member-list li[data-user='bob']").wait_for()
    bob.locator("#member-list li[data-user='alice']").wait_for()

    alice.get_by_label("Message (others see you typing)").press_sequentially("hello bob")
    bob.locator("#typing-indicator").filter(has_text="alice is typing").wait_for()
    assert alice.locator("#typing-indicator").inner_text() == ""  # never told about oneself

    bob.get_by_label("Message (others see you typing)").press_sequentially("hi")
    alice.locator("#typing-indicator").filter(has_text="bob is typing").wait_for()

    # Enter sends (clears the box) and ends the indicator for the others.
    alice.get_by_label("Message (others see you typing)").press("Enter")
    bob.locator("#typing-indicator").filter(has_not_text="alice").wait_for()

    bob.get_by_role("button", name="Leave").click()
    alice.locator("#member-list li[data-user='bob']").wait_for(state="detached")


def test_upload_progress_bar_reaches_100(open_page: Callable[[str], Any]) -> None:
    page = open_page("/")
    sign_in(page, "uploader")
    # A PNG by its signature (the hub sniffs the bytes), big enough for several progress ticks.
    content = b"\x89PNG\r\n\x1a\n" + os.urandom(4 * 1024 * 1024)
    page.get_by_label("File (PDF, PNG").set_input_files({"name": "scan.png", "mimeType": "image/png", "buffer": content})
    page.get_by_role("button", name="Upload", exact=True).click()

    page.locator("#upload-status").filter(has_text="Stored").wait_for()
    assert page.locator("#upload-progress").evaluate("bar => bar.value") == 100
    assert page.locator("#upload-percent").inner_text() == "100"
    assert page.locator("#upload-status").inner_text().startswith(f"Stored {len(content)} bytes (image/png)")
    # The bar was driven by the hub's upload.progress events, as the live feed shows.
    assert page.locator("#event-feed li", has_text="upload.progress").count() >= 1
    link = page.get_by_role("link", name="open the file").get_attribute("href")
    assert link and httpx.get(link, timeout=10).content == content


def test_notification_sent_through_the_api_appears_with_its_badge(
    open_page: Callable[[str], Any], console_hub: RunningHub
) -> None:
    page = open_page("/")
    sign_in(page, "carol")
    badge = page.locator("#notification-badge")
    assert badge.inner_text() == "0"

    response = httpx.post(
        f"{console_hub.url}/api/notifications",
        json={"users": ["carol"], "title": "Build done", "body": "main is green", "id": "build-1"},
        headers=console_hub.headers(),
        timeout=10,
    )
    assert response.status_code == 201, response.text

    item = page.locator("#notification-list li[data-id='build-1']")
    item.wait_for()
    assert "Build done" in item.inner_text() and "main is green" in item.inner_text()
    page.locator("#notification-badge[data-count='1']").wait_for()
    assert badge.get_attribute("aria-label") == "1 unread"

    item.get_by_role("button", name="Mark “Build done” as read").click()
    page.locator("#notification-badge[data-count='0']").wait_for()
    page.locator("#notification-list li.read[data-id='build-1']").wait_for()
    # Read on the hub, not only on the page.
    listed = httpx.get(
        f"{console_hub.url}/api/notifications", headers={"authorization": f"Bearer {console_hub.token('carol')}"}
    ).json()
    assert listed["unread"] == 0 and listed["items"][0]["read"] is True


def test_ocr_job_shows_its_stages(open_page: Callable[[str], Any]) -> None:
    if shutil.which("tesseract") is None and os.environ.get("HUB_REQUIRE_OCR") != "1":
        pytest.skip("tesseract is not installed (scripts/setup-system.sh installs it)")
    page = open_page("/")
    sign_in(page, "dora")
    # The page draws a PNG with a line of text and submits it to POST /api/documents.
    page.get_by_role("button", name="Use a sample image").click()

    state = page.locator("#doc-state")
    state.filter(has_text=re.compile("Document (queued|processing)")).wait_for()
    page.locator("#doc-state[data-state='completed']").wait_for(timeout=OCR_TIMEOUT_MS)
    stages = page.locator("#doc-stages li").evaluate_all("items => items.map(li => li.dataset.stage)")
    assert stages[0] == "queued" and "ocr" in stages, stages
    assert page.locator("#doc-stages li[data-stage='ocr'] progress").evaluate("bar => bar.value") == 100
    assert "hub" in page.locator("#doc-result").inner_text().lower()


def test_admin_shows_live_counters_and_replays(open_page: Callable[[str], Any], console_hub: RunningHub) -> None:
    admin = open_page("/admin")
    admin.get_by_label("User name").fill("root")
    admin.get_by_role("button", name="Sign in").click()
    admin.locator("#admin-status").filter(has_text="live").wait_for()
    delivered = int(admin.locator("#count-deliveries").inner_text())

    member = open_page("/")
    sign_in(member, "erin")
    member.get_by_role("button", name="Join").click()
    member.locator("#presence-status").filter(has_text="In room lobby").wait_for()
    # The other user's connection and its topics, with their subscriber counts in this process.
    admin.locator("#topic-rows tr[data-topic='presence:lobby']").wait_for()
    admin.locator("#topic-rows tr[data-topic='user:erin'] td.num", has_text="1").wait_for()
    admin.locator("#connection-rows td", has_text="erin").first.wait_for()

    before = int(admin.locator("#count-events").inner_text())
    for number in range(3):
        result = httpx.post(
            f"{console_hub.url}/api/publish",
            json={"topic": "user:frank", "type": "demo.ping", "data": {"n": number}},
            headers=console_hub.headers(),
            timeout=10,
        )
        assert result.status_code == 201, result.text
    # Live: the counter moves on its own (the page polls), and the rate shows the burst.
    admin.wait_for_function(
        f"() => Number(document.querySelector('#count-events').textContent) >= {before + 3}", timeout=5_000
    )
    admin.wait_for_function("() => Number(document.querySelector('#rate-events').textContent) > 0", timeout=5_000)
    # erin's page got her welcome (at least): deliveries count the events written to connections.
    admin.wait_for_function(
        f"() => Number(document.querySelector('#count-deliveries').textContent) > {delivered}", timeout=5_000
    )

    admin.get_by_role("textbox", name="Topic", exact=True).fill("user:frank")
    admin.get_by_role("button", name="Search").click()
    admin.locator("#log-status").filter(has_text="3 event(s) shown").wait_for()

    admin.get_by_role("button", name="Count (dry run)").click()
    admin.locator("#replay-status").filter(has_text="3 event(s) would be replayed").wait_for()
    admin.get_by_role("button", name="Replay…").click()
    dialog = admin.get_by_role("dialog", name="Replay events?")
    dialog.wait_for()
    assert "Send 3 event(s) again" in dialog.inner_text()
    dialog.get_by_role("button", name="Replay").click()
    admin.locator("#replay-status").filter(has_text="Replayed 3 event(s)").wait_for()

    events = httpx.get(
        f"{console_hub.url}/api/admin/events",
        params={"topic": "user:frank"},
        headers={"authorization": f"Bearer {console_hub.token('root', ['admin'])}"},
        timeout=10,
    ).json()["events"]
    replays = [event for event in events if event["meta"].get("replay")]
    assert len(events) == 6 and [event["data"]["n"] for event in replays] == [0, 1, 2]
