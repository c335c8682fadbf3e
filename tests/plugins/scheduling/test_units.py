"""The pure parts: slots from hours and exceptions, the iCalendar writer, the configuration."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import icalendar
import pytest

from hub import ConfigError, InvalidMessage
from hub_plugins.scheduling import ical
from hub_plugins.scheduling.availability import Exception_, Schedule, is_slot, parse_hours, parse_instant, slot_starts
from hub_plugins.scheduling.config import SchedulingConfig

LONDON = ZoneInfo("Europe/London")


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def starts(schedule: Schedule, day: str, duration: int = 3600, buffer: int = 0) -> list[str]:
    found = slot_starts(schedule, duration, buffer, utc(day + "T00:00:00+00:00") - 3 * 3600,
                        utc(day + "T23:59:59+00:00"))
    return [datetime.fromtimestamp(s, LONDON).strftime("%H:%M") for s in found
            if datetime.fromtimestamp(s, LONDON).date().isoformat() == day]


def test_hours_exceptions_and_buffers() -> None:
    hours = parse_hours({"mon": [["09:00", "12:30"], ["14:00", "16:00"]]})
    plain = Schedule(LONDON, hours)
    assert starts(plain, "2027-01-04", 45 * 60, 15 * 60) == ["09:00", "10:00", "11:00", "14:00", "15:00"]
    assert starts(plain, "2027-01-05") == []  # a Tuesday: not in the hours
    varied = Schedule(LONDON, hours, (
        Exception_("2027-01-04", "off", "10:00", "12:30"),
        Exception_("2027-01-05", "extra", "08:00", "10:00"),
        Exception_("2027-01-11", "off"),
    ))
    assert starts(varied, "2027-01-04") == ["09:00", "14:00", "15:00"]
    assert starts(varied, "2027-01-05") == ["08:00", "09:00"]
    assert starts(varied, "2027-01-11") == []
    assert is_slot(varied, 3600, 0, utc("2027-01-05T08:00:00+00:00"))
    assert not is_slot(varied, 3600, 0, utc("2027-01-05T08:30:00+00:00"))
    assert not is_slot(varied, 3600, 0, utc("2027-01-04T10:00:00+00:00"))


@pytest.mark.parametrize("bad", [
    {"monday": []}, {"mon": [["09:00"]]}, {"mon": [["17:00", "09:00"]]}, {"mon": [["9:00", "10:00"]]},
    {"mon": [["09:00", "24:30"]]}, [],
])
def test_bad_hours(bad: object) -> None:
    with pytest.raises(InvalidMessage):
        parse_hours(bad)


@pytest.mark.parametrize("bad", ["2027-03-15T09:00:00", "2027-03-15", "tomorrow", 5, "2027-13-15T09:00:00Z"])
def test_instants_need_an_offset(bad: object) -> None:
    with pytest.raises(InvalidMessage):
        parse_instant(bad, "start")


def test_the_calendar_is_rfc_5545() -> None:
    summary = "Zoë; Ångström, \\ «ü» " + "é" * 60 + "\nsecond line"
    body = ical.calendar("Täst", [ical.Event("u1@x", 1_800_000_000, 1_800_003_600, summary, "d", 3)], 1_790_000_000)
    lines = body.split(b"\r\n")
    assert body.endswith(b"\r\n") and all(b"\n" not in line for line in lines)
    assert all(len(line) <= 75 for line in lines)
    for line in lines:
        line.decode()  # never folded inside a UTF-8 character
    event = icalendar.Calendar.from_ical(body).walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == summary
    assert event.decoded("DTSTART") == datetime.fromtimestamp(1_800_000_000, UTC)
    assert event.decoded("DTSTAMP") == datetime.fromtimestamp(1_790_000_000, UTC)
    assert int(event["SEQUENCE"]) == 3 and str(event["UID"]) == "u1@x"


def test_configuration() -> None:
    assert SchedulingConfig.load({}).reminder_offsets == (86400.0, 3600.0)
    assert SchedulingConfig.load({"reminder_offsets_seconds": "5, 60,5"}).reminder_offsets == (60.0, 5.0)
    with pytest.raises(ConfigError, match="reminder_offsets_seconds"):
        SchedulingConfig.load({"reminder_offsets_seconds": "soon"})
    with pytest.raises(ConfigError, match="hold_seconds"):
        SchedulingConfig.load({"hold_seconds": "0"})
