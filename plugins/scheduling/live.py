"""The topic kind ``availability:<resource>``: its parameters, its snapshot and its per-subscriber view.

A subscription carries ``from``, ``to`` (RFC 3339 date-times, or dates taken
at midnight in ``tz``), ``tz`` (the viewer's IANA zone, default UTC) and
optionally ``type`` (the consultation type whose slots it lists). Events are
published once, in UTC and naming the holder; the view gives each subscriber
its own form: in its zone, within its range, and ``yours`` to the holder or
booker, ``taken`` to everyone else (who never learns who it is).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, time as clock
from typing import Any
from zoneinfo import ZoneInfo

from hub import Envelope, Form, InvalidMessage, NotFound, Subscription, ViewResult

from .availability import iso_in, parse_day, parse_instant, slot_starts, zone
from .bookings import Bookings, Slot
from .catalog import Catalog, checked_id
from .tables import HELD

KIND = "availability"
PARAMS = frozenset({"from", "to", "tz", "type"})
MAX_SLOTS = 5000


@dataclass(frozen=True)
class Window:
    """What one subscriber watches: ``[start_s, end_s)``, in zone ``tz``, slots of ``type_id`` (or the first type)."""

    start_s: float
    end_s: float
    tz: ZoneInfo
    type_id: str | None


def _bound(value: Any, field: str, tz: ZoneInfo) -> float | None:
    if value is None:
        return None
    if isinstance(value, str) and len(value) == 10:
        return datetime.combine(parse_day(value, field), clock(), tz).timestamp()
    return parse_instant(value, field).timestamp()


def window_parser(max_days: int) -> Any:
    """The kind's ``params``: the subscription's ``from``, ``to``, ``tz`` and ``type``, checked."""

    def parse(raw: dict[str, Any]) -> Window:
        unknown = set(raw) - PARAMS
        if unknown:
            raise InvalidMessage(f"availability takes the parameters from, to, tz and type (got {sorted(unknown)[0]!r}).")
        tz = zone(raw.get("tz", "UTC"))
        start = _bound(raw.get("from"), "from", tz)
        start = time.time() if start is None else start
        end = _bound(raw.get("to"), "to", tz)
        end = start + 7 * 86400 if end is None else end
        if end <= start:
            raise InvalidMessage("'to' must be after 'from'.")
        if end - start > max_days * 86400:
            raise InvalidMessage(f"A subscription covers at most {max_days} days.")
        type_id = raw.get("type")
        if type_id is not None:
            checked_id(type_id, "type")
        return Window(start, end, tz, type_id)

    return parse


def event_data(slot: Slot) -> dict[str, Any]:
    """What is published (and stored nowhere): UTC times and the holder, for the view to shape."""
    return {"resource": slot.resource_id, "type": slot.type_id, "client": slot.client, "hold_id": slot.id,
            "booking_id": slot.booking_id, "start_s": slot.start_s, "end_s": slot.end_s, "busy_s": slot.busy_s,
            "expires_s": slot.expires_s}


def view(subscription: Subscription, envelope: Envelope) -> ViewResult:
    """One subscriber's form of a slot event: ``None`` outside its range, else in its zone, yours or taken."""
    window: Window = subscription.params
    data = envelope.data
    if not (data["start_s"] < window.end_s and window.start_s < data["busy_s"]):
        return None
    tz = window.tz
    shown: dict[str, Any] = {"resource": data["resource"], "type": data["type"],
                             "start": iso_in(data["start_s"], tz), "end": iso_in(data["end_s"], tz)}
    if envelope.type in ("slot.released", "slot.freed"):
        return Form(("free", tz.key), {**shown, "status": "free", "free": True})
    if subscription.user != data["client"]:
        return Form(("taken", tz.key), {**shown, "status": "taken", "taken": True})
    if envelope.type == "slot.held":
        mine = {"hold_id": data["hold_id"], "expires_at": iso_in(data["expires_s"], tz), "state": "held"}
    else:
        mine = {"booking_id": data["booking_id"], "state": "booked"}
    return Form(("yours", tz.key), {**shown, "status": "yours", "yours": True, **mine})


def slot_entry(start_s: int, end_s: int, tz: ZoneInfo, user: str, occupant: Slot | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"start": iso_in(start_s, tz), "end": iso_in(end_s, tz)}
    if occupant is None:
        entry["status"] = "free"
    elif occupant.client != user:
        entry["status"] = "taken"
    elif occupant.state == HELD:
        entry.update(status="yours", state="held", hold_id=occupant.id, expires_at=iso_in(occupant.expires_s or 0, tz))
    else:
        entry.update(status="yours", state="booked", booking_id=occupant.booking_id)
    return entry


async def snapshot(catalog: Catalog, bookings: Bookings, subscription: Subscription) -> dict[str, Any]:
    """Every slot of the window, in the viewer's zone: free, taken, or yours (with its hold or booking)."""
    window: Window = subscription.params
    resource = await catalog.resource(subscription.key)
    if window.type_id is not None:
        kind = await catalog.type(window.type_id)
    else:
        kinds = await catalog.list_types()
        if not kinds:
            raise NotFound("No consultation types are set up yet.")
        kind = kinds[0]
    starts = slot_starts(resource.schedule, kind.duration_s, kind.buffer_s, window.start_s, window.end_s)
    truncated = len(starts) > MAX_SLOTS
    starts = starts[:MAX_SLOTS]
    taken = await bookings.busy(resource.id, window.start_s, window.end_s + kind.duration_s + kind.buffer_s)
    entries = []
    for start in starts:
        busy = start + kind.duration_s + kind.buffer_s
        occupant = next((slot for slot in taken if slot.start_s < busy and start < slot.busy_s), None)
        entries.append(slot_entry(start, start + kind.duration_s, window.tz, subscription.user, occupant))
    return {"resource": resource.id, "name": resource.name, "tz": window.tz.key, "resource_tz": resource.tz.key,
            "type": kind.id, "from": iso_in(window.start_s, window.tz), "to": iso_in(window.end_s, window.tz),
            "slots": entries, "truncated": truncated}
