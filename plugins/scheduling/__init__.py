"""scheduling: consultation booking with live availability, holds and bookings that never double-book.

- Resources (lawyers) owned by a user (``owner``, a ``sub``), with weekly hours
  in their own IANA zone, exceptions, and consultation types (duration, buffer).
- Topic kind ``availability:<resource>``: subscription parameters ``from``,
  ``to``, ``tz`` (and ``type``); snapshot ``{slots: [...]}`` in the viewer's
  zone; events ``slot.held``, ``slot.released``, ``slot.booked``, ``slot.freed``,
  shaped per subscriber (``yours`` to the holder, ``taken`` to the others).
- Requests ``scheduling.hold``, ``scheduling.book``, ``scheduling.cancel``,
  ``scheduling.reschedule``, ``scheduling.release``.
- HTTP under ``/api/scheduling/`` (see :mod:`.routes`), calendars as RFC 5545.
- Notifications (booked, cancelled, rescheduled, reminders) through the
  ``notifications`` service when it is there.

See docs/scheduling.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute

from hub import (
    ClientRequest, ConsolePanel, Hub, NotFound, RequestHandler, Subscription, TopicKind, Unavailable, anyone,
    hookimpl, nobody,
)

from . import live, routes
from .availability import iso_in, parse_instant
from .bookings import Bookings, Slot
from .catalog import Catalog, checked_id
from .clock import Clock, Notifier
from .config import DEFAULTS, NAME, SchedulingConfig
from .feeds import Feeds

log = logging.getLogger(f"hub.plugins.{NAME}")

__all__ = ["Scheduling"]


class Running:
    """The plugin's parts on a hub with a SQL database (made in ``hub_startup``)."""

    def __init__(self, hub: Hub, config: SchedulingConfig) -> None:
        self.hub = hub
        self.config = config
        self.catalog = Catalog(hub.database)
        self.feeds = Feeds(hub.database)
        self.bookings = Bookings(hub.database, self.catalog, config, self.announce, self.poke)
        reminders = hub.metrics.counter("hub_scheduling_reminders_sent_total", "Reminders this process sent.")
        self.changes = hub.metrics.counter("hub_scheduling_changes_total", "Slot changes announced, by event.", ["event"])
        self.clock = Clock(hub.database, self.bookings, config, self.tell, reminders.inc)

    def poke(self) -> None:
        self.clock.poke()

    async def announce(self, event_type: str, slot: Slot) -> None:
        await self.hub.publish(f"{live.KIND}:{slot.resource_id}", event_type, live.event_data(slot))
        self.changes.labels(event_type).inc()
        if event_type == "slot.held":
            self.clock.poke()  # its expiry may be the next thing due

    async def tell(self, slot: Slot, what: str, ident: str) -> None:
        """Notify the client and the lawyer of a booking, once per ``ident`` (the notification's id)."""
        notifier = self.hub.services.get("notifications", Notifier)
        if notifier is None:
            return
        resource = await self.catalog.resource(slot.resource_id)
        when = iso_in(slot.start_s, resource.tz)
        users = sorted({slot.client, resource.owner})
        data = {"booking_id": slot.booking_id, "resource": slot.resource_id, "start": iso_in(slot.start_s),
                "end": iso_in(slot.end_s), "what": what}
        title = f"Consultation with {resource.name} {what}" if not what.startswith("in ") else \
            f"Reminder: consultation with {resource.name} {what}"
        await notifier.notify(users, title, f"{when} ({resource.tz.key}), {slot.type_id}.", data, ident)

    def tell_later(self, slot: Slot, what: str) -> None:
        async def go() -> None:
            try:
                await self.tell(slot, what, f"scheduling-{what}-{slot.booking_id}-{slot.version}")
            except Exception:  # a courtesy: the booking is stored and announced already
                log.exception("scheduling: notifying about booking %s failed", slot.booking_id)

        self.hub.start_task(go(), name=f"scheduling-tell-{slot.booking_id}")


class Scheduling:
    """The plugin of one hub (the entry point names this class)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.parts: Running | None = None

    def running(self) -> Running:
        if self.parts is None:
            raise Unavailable("Scheduling needs the hub's SQL database.")
        return self.parts

    @staticmethod
    @hookimpl
    def hub_migrations() -> Path:
        return Path(__file__).parent / "migrations"

    @staticmethod
    @hookimpl
    def hub_console_panels() -> list[ConsolePanel]:
        return [ConsolePanel.in_folder(Path(__file__).parent / "console", id="scheduling", title="Booking", order=50)]

    @hookimpl
    def hub_config_defaults(self) -> dict[str, Any]:
        return dict(DEFAULTS)

    @hookimpl
    def hub_startup(self, hub: Hub) -> None:
        config = SchedulingConfig.load(hub.plugin_config(NAME))
        try:
            hub.database
        except Unavailable:
            log.warning("scheduling: no SQL database (memory store); its requests answer unavailable")
            return
        self.parts = Running(hub, config)
        hub.start_task(self.parts.clock.run(), name="scheduling-clock")

    async def snapshot(self, subscription: Subscription) -> dict[str, Any]:
        parts = self.running()
        return await live.snapshot(parts.catalog, parts.bookings, subscription)

    @hookimpl
    def hub_topic_kinds(self, hub: Hub) -> list[TopicKind]:
        max_days = int(SchedulingConfig.load(hub.plugin_config(NAME)).max_range_days)
        return [TopicKind(
            name=live.KIND, can_subscribe=anyone, can_publish=nobody, params=live.window_parser(max_days),
            snapshot_for=self.snapshot, view=live.view,
            description="A resource's slots: free, taken or yours, in the viewer's zone, live.",
        )]

    async def hold(self, request: ClientRequest) -> dict[str, Any]:
        """``scheduling.hold {resource, start, type}``: ``{hold_id, expires_at, start, end}``."""
        resource = checked_id(request.field("resource", str), "resource")
        kind = checked_id(request.field("type", str), "type")
        start = parse_instant(request.field("start", str), "start")
        slot = await self.running().bookings.hold(request.principal.user, resource, start, kind)
        return {"hold_id": slot.id, "expires_at": iso_in(slot.expires_s or 0), "start": iso_in(slot.start_s),
                "end": iso_in(slot.end_s)}

    async def book(self, request: ClientRequest) -> dict[str, Any]:
        """``scheduling.book {hold_id, id?}``: ``{booking_id, created}``; again for one hold, the same booking."""
        hold_id = request.field("hold_id", str)
        key = request.field("id", str, required=False)
        parts = self.running()
        slot, created = await parts.bookings.book(request.principal.user, hold_id, key)
        if created:
            parts.tell_later(slot, "booked")
        return {"booking_id": slot.booking_id, "created": created, "start": iso_in(slot.start_s)}

    async def cancel(self, request: ClientRequest) -> dict[str, Any]:
        """``scheduling.cancel {booking_id}``: ``{cancelled: true}``."""
        parts = self.running()
        slot, changed = await parts.bookings.cancel(request.principal, request.field("booking_id", str))
        if changed:
            parts.tell_later(slot, "cancelled")
        return {"cancelled": True, "booking_id": slot.booking_id}

    async def reschedule(self, request: ClientRequest) -> dict[str, Any]:
        """``scheduling.reschedule {booking_id, start}``: the booking, moved (``conflict``: it stays)."""
        parts = self.running()
        start = parse_instant(request.field("start", str), "start")
        _, new = await parts.bookings.reschedule(request.principal, request.field("booking_id", str), start)
        parts.tell_later(new, "rescheduled")
        return {"booking_id": new.booking_id, "start": iso_in(new.start_s), "end": iso_in(new.end_s)}

    async def release(self, request: ClientRequest) -> dict[str, Any]:
        """``scheduling.release {hold_id}``: give a hold back before it expires."""
        if not await self.running().bookings.release(request.principal.user, request.field("hold_id", str)):
            raise NotFound("No such hold of yours.")
        return {"released": True}

    @hookimpl
    def hub_requests(self) -> dict[str, RequestHandler]:
        return {"hold": self.hold, "book": self.book, "cancel": self.cancel, "reschedule": self.reschedule,
                "release": self.release}

    @hookimpl
    def hub_routes(self, hub: Hub) -> list[BaseRoute]:
        return routes.routes(hub, self.running)
