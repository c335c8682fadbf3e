"""Slots of a lawyer in London, seen from New York and Berlin, around the daylight-saving changes of 2027.

The US changes on 14 March and 7 November, the EU (London and Berlin) on 28
March and 31 October: between those dates the offsets between the three
cities differ from the rest of the year. The expected times are written out
by hand, not computed with the code under test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.testing import RunningHub, SocketRecorder, start_hub

from .support import lawyer

EVERY_DAY = {day: [["09:00", "11:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}

# (London day, viewer zone, the day's two slots as that viewer sees them)
CASES = [
    ("2027-03-11", "America/New_York", ["2027-03-11T04:00:00-05:00", "2027-03-11T05:00:00-05:00"]),
    ("2027-03-15", "America/New_York", ["2027-03-15T05:00:00-04:00", "2027-03-15T06:00:00-04:00"]),
    ("2027-03-29", "America/New_York", ["2027-03-29T04:00:00-04:00", "2027-03-29T05:00:00-04:00"]),
    ("2027-03-15", "Europe/Berlin", ["2027-03-15T10:00:00+01:00", "2027-03-15T11:00:00+01:00"]),
    ("2027-03-29", "Europe/Berlin", ["2027-03-29T10:00:00+02:00", "2027-03-29T11:00:00+02:00"]),
    ("2027-10-29", "America/New_York", ["2027-10-29T04:00:00-04:00", "2027-10-29T05:00:00-04:00"]),
    ("2027-11-01", "America/New_York", ["2027-11-01T05:00:00-04:00", "2027-11-01T06:00:00-04:00"]),
    ("2027-11-08", "America/New_York", ["2027-11-08T04:00:00-05:00", "2027-11-08T05:00:00-05:00"]),
    ("2027-10-29", "Europe/Berlin", ["2027-10-29T10:00:00+02:00", "2027-10-29T11:00:00+02:00"]),
    ("2027-11-01", "Europe/Berlin", ["2027-11-01T10:00:00+01:00", "2027-11-01T11:00:00+01:00"]),
]

# On the change days themselves the lawyer also works 00:00-03:00 London time (an exception):
# in March 01:00-02:00 does not exist there; in October 01:00-02:00 happens twice.
NIGHT = {
    "2027-03-28": ["2027-03-28T00:00:00Z", "2027-03-28T01:00:00Z", "2027-03-28T08:00:00Z", "2027-03-28T09:00:00Z"],
    "2027-10-31": ["2027-10-30T23:00:00Z", "2027-10-31T00:00:00Z", "2027-10-31T02:00:00Z", "2027-10-31T09:00:00Z",
                   "2027-10-31T10:00:00Z"],
}


@pytest.fixture
async def london(tmp_path: Path) -> AsyncIterator[RunningHub]:
    hub = start_hub(tmp_path)
    await lawyer(hub, tz="Europe/London", hours=EVERY_DAY)
    async with hub.http() as http:
        for day in NIGHT:
            response = await http.post("/api/scheduling/resources/law-1/exceptions", headers=hub.headers(),
                                       json={"day": day, "kind": "extra", "start": "00:00", "end": "03:00"})
            assert response.status_code == 201, response.text
    yield hub
    hub.stop()




async def test_viewers_in_new_york_and_berlin_across_the_changes(london: RunningHub) -> None:
    viewer = await SocketRecorder().connect(london, london.token("viewer"))
    try:
        for day, tz, expected in CASES:
            reply = await viewer.call("subscribe", {"topic": "availability:law-1", "tz": "Europe/London",
                                                    "from": day, "to": day + "T23:59:59+00:00"})
            utc = [slot["start"] for slot in reply["snapshot"]["slots"]]
            seen = await viewer.call("subscribe", {"topic": "availability:law-1", "tz": tz,
                                                   "from": utc[0], "to": day + "T23:59:59+00:00"})
            assert [slot["start"] for slot in seen["snapshot"]["slots"]] == expected, (day, tz)
    finally:
        await viewer.close()


async def test_the_nights_of_the_changes_in_london(london: RunningHub) -> None:
    viewer = await SocketRecorder().connect(london, london.token("viewer"))
    try:
        for day, expected in NIGHT.items():
            reply = await viewer.call("subscribe", {"topic": "availability:law-1", "tz": "UTC",
                                                    "from": expected[0], "to": expected[-1].replace(":00:00Z", ":00:01Z")})
            assert [slot["start"].replace("+00:00", "Z") for slot in reply["snapshot"]["slots"]] == expected, day
    finally:
        await viewer.close()


async def test_a_hold_made_in_new_york_shows_in_berlin_at_the_right_hour(london: RunningHub) -> None:
    ny = await SocketRecorder().connect(london, london.token("ny"))
    berlin = await SocketRecorder().connect(london, london.token("berlin"))
    try:
        await berlin.call("subscribe", {"topic": "availability:law-1", "tz": "Europe/Berlin", "from": "2027-03-15",
                                        "to": "2027-03-16"})
        # 09:00 in London on 15 March 2027 is 05:00 in New York (already on summer time) and 10:00 in Berlin.
        held = await ny.call("scheduling.hold", {"resource": "law-1", "start": "2027-03-15T05:00:00-04:00",
                                                 "type": "consult"})
        assert held["ok"] is True, held
        event = (await berlin.wait_for("slot.held"))[0]["data"]
        assert event["start"] == "2027-03-15T10:00:00+01:00" and event["taken"] is True
        wrong = await ny.call("scheduling.hold", {"resource": "law-1", "start": "2027-03-15T04:00:00-04:00",
                                                  "type": "consult"})
        assert wrong["ok"] is False and wrong["error"]["code"] == "conflict"  # 08:00 London: not a working hour
    finally:
        await ny.close()
        await berlin.close()
