"""Calendar feeds per lawyer and per client behind rotatable secret addresses, and an .ics per booking,
parsed with the icalendar package."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import icalendar

from hub.testing import RunningHub, start_hub

from .support import direct, lawyer, next_weekday_at, put


async def book(hub: RunningHub, start: str, client: str) -> str:
    response = await direct(hub, start, client=client)
    assert response.status_code == 201, response.text
    return str(response.json()["booking_id"])


async def rotate(hub: RunningHub, user: str, **body: Any) -> Any:
    async with hub.http() as http:
        return await http.post("/api/scheduling/feeds", json=body, headers=hub.headers(user, ()))


async def fetch(hub: RunningHub, path: str, user: str | None = None) -> Any:
    async with hub.http() as http:
        return await http.get(path, headers=hub.headers(user, ()) if user else {})


def events(body: bytes) -> dict[str, Any]:
    calendar = icalendar.Calendar.from_ical(body)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


async def test_feeds_and_booking_files(tmp_path: Path) -> None:
    hub = start_hub(tmp_path, env={"HUB_PLUGIN_SCHEDULING_CANCEL_BEFORE_SECONDS": "0"})
    try:
        await lawyer(hub)
        long_name = "Maître Zoë Ångström-Øverby; Partner, Family & Inheritance Law — Chambers of Ünal " * 2
        await put(hub, "/resources/law-1", {"name": long_name, "owner": "lawyer", "tz": "Europe/London",
                                            "hours": {"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]],
                                                      "wed": [["09:00", "17:00"]], "thu": [["09:00", "17:00"]],
                                                      "fri": [["09:00", "17:00"]]}})
        first, second, third = next_weekday_at(9), next_weekday_at(10), next_weekday_at(11)
        carol_1, carol_2, dave = await book(hub, first, "carol"), await book(hub, second, "carol"), await book(hub, third, "dave")
        async with hub.http() as http:
            cancelled = await http.post(f"/api/scheduling/bookings/{carol_2}/cancel", headers=hub.headers("carol", ()))
        assert cancelled.status_code == 200, cancelled.text

        mine = await rotate(hub, "carol", kind="client")
        assert mine.status_code == 201
        response = await fetch(hub, mine.json()["path"])
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/calendar")
        raw = response.content
        assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
        assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
        found = events(raw)
        assert set(found) == {f"{carol_1}@hub-scheduling", f"{carol_2}@hub-scheduling"}
        event = found[f"{carol_1}@hub-scheduling"]
        assert event.decoded("DTSTART") == datetime.fromisoformat(first).astimezone(UTC)
        assert (event.decoded("DTEND") - event.decoded("DTSTART")).total_seconds() == 3600
        assert str(event["SUMMARY"]) == f"Consultation with {long_name}"  # escaped and folded, read back whole
        assert "DTSTAMP" in event and str(event["STATUS"]) == "CONFIRMED"
        assert str(found[f"{carol_2}@hub-scheduling"]["STATUS"]) == "CANCELLED"

        assert (await rotate(hub, "carol", kind="resource", resource="law-1")).status_code == 403
        theirs = await rotate(hub, "lawyer", kind="resource", resource="law-1")
        assert len(events((await fetch(hub, theirs.json()["path"])).content)) == 3
        again = await rotate(hub, "lawyer", kind="resource", resource="law-1")
        assert (await fetch(hub, theirs.json()["path"])).status_code == 404  # the old address is dead
        assert len(events((await fetch(hub, again.json()["path"])).content)) == 3

        single = await fetch(hub, f"/api/scheduling/bookings/{dave}.ics", "dave")
        assert list(events(single.content)) == [f"{dave}@hub-scheduling"]
        assert (await fetch(hub, f"/api/scheduling/bookings/{dave}.ics", "carol")).status_code == 404
        assert (await fetch(hub, f"/api/scheduling/bookings/{dave}.ics", "lawyer")).status_code == 200
    finally:
        hub.stop()
