"""The booking panel in Chromium, with two users: one holds, books and cancels; the other watches the
slot become taken and free again, live."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from hub.testing import RunningHub

from .conftest import sign_in

EVERY_DAY = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def set_up(hub: RunningHub) -> None:
    for path, body in (
        ("/api/scheduling/resources/panel-law", {"name": "Counsel Panel", "owner": "lawyer", "tz": "Europe/London",
                                                 "hours": EVERY_DAY}),
        ("/api/scheduling/types/consult", {"name": "Consultation", "duration_minutes": 60}),
    ):
        response = httpx.put(hub.url + path, json=body, headers=hub.headers(), timeout=10)
        assert response.status_code == 200, response.text


def open_week(page: Any) -> Any:
    panel = page.locator("#panel-scheduling")
    panel.get_by_label("Lawyer").select_option("panel-law")
    panel.get_by_role("button", name="Show the week").click()
    panel.locator("#sched-status").filter(has_text="slots this week").wait_for()
    return panel


def test_two_users_book_in_the_panel(open_page: Callable[[str], Any], console_hub: RunningHub) -> None:
    set_up(console_hub)
    gina_page, hank_page = open_page("/"), open_page("/")
    sign_in(gina_page, "gina")
    sign_in(hank_page, "hank")
    gina, hank = open_week(gina_page), open_week(hank_page)

    # A slot that a client may still cancel: the plugin refuses within cancel_before_seconds (1 h) of
    # the start, so the week's first free slot, often within the hour, would make the test depend on the clock.
    free = gina.locator("li.sched-slot[data-status='free']")
    cutoff_ms = (time.time() + 2 * 3600) * 1000
    start = next(s for s in (free.nth(i).get_attribute("data-start") for i in range(free.count()))
                 if s is not None and int(s) > cutoff_ms)
    gina.locator(f"li.sched-slot[data-start='{start}']").get_by_role("button", name="Hold").click()
    mine = gina.locator(f"li.sched-slot[data-start='{start}']")
    mine.filter(has_text="yours (held)").wait_for()
    theirs = hank.locator(f"li.sched-slot[data-start='{start}']")
    theirs.filter(has_text="taken").wait_for()
    assert theirs.get_by_role("button").count() == 0

    mine.get_by_role("button", name="Book").click()
    mine.filter(has_text="yours (booked)").wait_for()
    gina.locator("#sched-status").filter(has_text="Booked").wait_for()
    theirs.filter(has_text="taken").wait_for()

    mine.get_by_role("button", name="Cancel").click()
    theirs.filter(has_text="free").wait_for()
    mine.filter(has_text="free").wait_for()
    theirs.get_by_role("button", name="Hold").click()
    theirs.filter(has_text="yours (held)").wait_for()
    mine.filter(has_text="taken").wait_for()
