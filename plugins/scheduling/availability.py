"""Free slots from weekly hours, exceptions and a consultation type: pure functions, no database.

Working hours are wall-clock times in the resource's own IANA zone, so a
lawyer in London who works 09:00-17:00 does so in GMT in winter and in BST in
summer; each slot start is turned into UTC once, through ``zoneinfo``. A local
time that does not exist (the hour skipped in spring) gives no slot; one that
exists twice (the hour repeated in autumn) is its first occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub import InvalidMessage

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: Minutes since local midnight: ``[start, end)``.
Interval = tuple[int, int]


def zone(name: Any, field: str = "tz") -> ZoneInfo:
    """The IANA zone ``name``; ``InvalidMessage`` naming ``field`` otherwise."""
    if not isinstance(name, str) or not 1 <= len(name) <= 64 or ".." in name or name.startswith("/"):
        raise InvalidMessage(f"'{field}' must be an IANA time zone name such as 'Europe/London'.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidMessage(f"'{field}': unknown time zone {name[:64]!r}.") from None


def minutes(text: Any, field: str) -> int:
    """``"HH:MM"`` (or ``"24:00"``) as minutes since midnight."""
    if not isinstance(text, str) or not CLOCK.match(text):
        raise InvalidMessage(f"'{field}' must be a time 'HH:MM', got {str(text)[:20]!r}.")
    hours, _, mins = text.partition(":")
    return int(hours) * 60 + int(mins)


def parse_day(text: Any, field: str = "day") -> date:
    if not isinstance(text, str) or not DAY.match(text):
        raise InvalidMessage(f"'{field}' must be a date 'YYYY-MM-DD'.")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidMessage(f"'{field}' is not a real date: {text!r}.") from None


def parse_hours(raw: Any) -> dict[str, list[list[str]]]:
    """Weekly hours ``{"mon": [["09:00", "12:00"], ...], ...}``, checked; days left out are days off."""
    if not isinstance(raw, Mapping) or set(raw) - set(DAYS):
        raise InvalidMessage(f"'hours' must be an object with the keys {', '.join(DAYS)} (each optional).")
    hours: dict[str, list[list[str]]] = {}
    for day in DAYS:
        spans = raw.get(day, [])
        if not isinstance(spans, list) or len(spans) > 24:
            raise InvalidMessage(f"'hours.{day}' must be a list of [start, end] pairs.")
        checked = []
        for span in spans:
            if not isinstance(span, list) or len(span) != 2:
                raise InvalidMessage(f"'hours.{day}' must be a list of [start, end] pairs.")
            if minutes(span[0], f"hours.{day}") >= minutes(span[1], f"hours.{day}"):
                raise InvalidMessage(f"'hours.{day}': {span[0]} is not before {span[1]}.")
            checked.append([span[0], span[1]])
        if checked:
            hours[day] = sorted(checked)
    return hours


@dataclass(frozen=True)
class Exception_:
    """A day off (``start``/``end`` ``None``: all day), hours off, or extra hours, on one local date."""

    day: str
    kind: str  # "off" or "extra"
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True)
class Schedule:
    """What a resource's availability is made of."""

    tz: ZoneInfo
    hours: Mapping[str, Sequence[Sequence[str]]]
    exceptions: Sequence[Exception_] = ()


def _subtract(spans: list[Interval], cut: Interval) -> list[Interval]:
    kept: list[Interval] = []
    for start, end in spans:
        if cut[1] <= start or end <= cut[0]:
            kept.append((start, end))
            continue
        if start < cut[0]:
            kept.append((start, cut[0]))
        if cut[1] < end:
            kept.append((cut[1], end))
    return kept


def day_intervals(schedule: Schedule, day: date) -> list[Interval]:
    """The working intervals of one local date: the weekday's hours, minus time off, plus extra hours."""
    spans = [(minutes(a, "hours"), minutes(b, "hours")) for a, b in schedule.hours.get(DAYS[day.weekday()], ())]
    today = [item for item in schedule.exceptions if item.day == day.isoformat()]
    for item in today:
        if item.kind == "off":
            cut = (0, 24 * 60) if item.start is None else (minutes(item.start, "start"), minutes(item.end, "end"))
            spans = _subtract(spans, cut)
    for item in today:
        if item.kind == "extra" and item.start is not None and item.end is not None:
            extra = (minutes(item.start, "start"), minutes(item.end, "end"))
            spans = _subtract(spans, extra) + [extra]
    return sorted(spans)


def _utc_of(day: date, second: int, tz: ZoneInfo) -> int | None:
    """The epoch second of a local wall-clock time, ``None`` when that time does not exist there."""
    naive = datetime.combine(day, time()) + timedelta(seconds=second)
    local = naive.replace(tzinfo=tz)
    instant = local.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != naive:
        return None  # in the gap of a spring change
    return int(instant.timestamp())


def slot_starts(schedule: Schedule, duration_s: int, buffer_s: int, start_s: float, end_s: float) -> list[int]:
    """Every slot start (epoch seconds) with ``start_s <= start < end_s``: each working interval cut into
    steps of duration plus buffer, an appointment ending by the interval's end."""
    tz = schedule.tz
    first = datetime.fromtimestamp(start_s, tz).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end_s, tz).date() + timedelta(days=1)
    step = max(1, duration_s + buffer_s)  # wall-clock seconds
    found: list[int] = []
    day = first
    while day <= last:
        for begin, finish in day_intervals(schedule, day):
            second, finish = begin * 60, finish * 60
            while second + duration_s <= finish:
                instant = _utc_of(day, second, tz)
                if instant is not None and start_s <= instant < end_s:
                    found.append(instant)
                second += step
        day += timedelta(days=1)
    return sorted(set(found))


def overlaps(start: int, busy: int, taken: Iterable[tuple[int, int]]) -> bool:
    """Whether ``[start, busy)`` meets any of the ``[start, busy)`` ranges in ``taken``."""
    return any(other_start < busy and start < other_busy for other_start, other_busy in taken)


def parse_instant(value: Any, field: str) -> datetime:
    """An RFC 3339 date-time with an offset (``Z`` or ``+01:00``), as an aware datetime."""
    if not isinstance(value, str) or not 10 < len(value) <= 40 or "T" not in value.upper():
        raise InvalidMessage(f"'{field}' must be an RFC 3339 date-time with an offset, like 2026-03-30T09:00:00Z.")
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise InvalidMessage(f"'{field}' is not an RFC 3339 date-time: {value[:40]!r}.") from None
    if parsed.tzinfo is None:
        raise InvalidMessage(f"'{field}' needs an offset (Z or +hh:mm): times are exact instants.")
    return parsed


def iso_in(seconds: float, tz: ZoneInfo | None = None) -> str:
    """An epoch second as RFC 3339: in ``tz`` with its offset, or UTC with ``Z``; milliseconds when it has
    a fraction (a hold's expiry), none for whole seconds (every slot)."""
    spec = "seconds" if seconds == int(seconds) else "milliseconds"
    text = datetime.fromtimestamp(seconds, tz or UTC).isoformat(timespec=spec)
    return text.replace("+00:00", "Z") if tz is None else text


def is_slot(schedule: Schedule, duration_s: int, buffer_s: int, start_s: int) -> bool:
    """Whether ``start_s`` is one of the slot starts :func:`slot_starts` gives (without listing a day's)."""
    local = datetime.fromtimestamp(start_s, schedule.tz)
    day = local.date()
    second = local.hour * 3600 + local.minute * 60 + local.second
    step = max(1, duration_s + buffer_s)
    for begin, finish in day_intervals(schedule, day):
        begin, finish = begin * 60, finish * 60
        if begin <= second and second + duration_s <= finish and (second - begin) % step == 0:
            return _utc_of(day, second, schedule.tz) == start_s
    return False
