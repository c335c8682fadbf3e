"""The plugin's one background task: expired holds released, reminders sent, each exactly once.

It sleeps until the next hold expires or reminder falls due (or ``sweep_seconds``
at the latest, to see what other processes added), so an idle hub costs a
couple of reads per sweep. Several processes may run it against one database:
a hold is released by the one whose ``UPDATE ... WHERE state = 'held'`` changed
it, and a reminder is claimed with a compare-and-set on its row and sent with
a stable notification id (the notifications service stores an id once per
user), so a crash between sending and marking leaves no duplicate either.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa

from hub import Database, utc_timestamp

from .bookings import Bookings, Slot
from .config import NAME, SchedulingConfig
from .tables import BOOKED, reminders

log = logging.getLogger(f"hub.plugins.{NAME}")
LEASE = 60.0  # a claim not marked sent within this is taken over (its claimant died)


@runtime_checkable
class Notifier(Protocol):
    """The ``notifications`` service, as far as this plugin uses it (the plugin is never imported)."""

    async def notify(
        self, users: Sequence[str], title: str, body: str, data: dict[str, Any] | None = None, id: str | None = None
    ) -> Mapping[str, Any]: ...


#: ``await tell(slot, what, notification_id)``: notify the client and the lawyer of ``slot``.
Tell = Callable[[Slot, str, str], Awaitable[None]]


class Clock:
    """Releases expired holds and sends due reminders; ``poke()`` when something new may be due sooner."""

    def __init__(self, database: Database, bookings: Bookings, config: SchedulingConfig, tell: Tell,
                 sent: Callable[[], None]) -> None:
        self.sent = sent  # counts a reminder sent by this process
        self.database = database
        self.bookings = bookings
        self.config = config
        self.tell = tell
        self.me = uuid.uuid4().hex[:16]
        self.wake = asyncio.Event()

    def poke(self) -> None:
        self.wake.set()

    async def run(self) -> None:
        while True:
            next_at: float | None = None
            try:
                await self.bookings.release_expired()
                await self.send_due()
                times = [t for t in (await self.bookings.next_expiry(), await self.next_due()) if t is not None]
                next_at = min(times, default=None)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduling: the sweep failed; trying again in %s s", self.config.sweep_seconds)
            delay = self.config.sweep_seconds
            if next_at is not None:
                delay = min(delay, max(0.05, next_at - time.time() + 0.01))
            try:
                await asyncio.wait_for(self.wake.wait(), delay)
            except TimeoutError:
                pass
            self.wake.clear()

    async def next_due(self) -> float | None:
        async with self.database.read() as connection:
            found = await connection.scalar(sa.select(sa.func.min(reminders.c.due_s)).where(reminders.c.sent_at.is_(None)))
        return None if found is None else float(found)

    async def send_due(self) -> int:
        """Claim the reminders due now, send each, mark it sent; how many this process sent."""
        now = time.time()
        free = sa.or_(reminders.c.claimed_s.is_(None), reminders.c.claimed_s < now - LEASE)
        due = sa.and_(reminders.c.sent_at.is_(None), reminders.c.due_s <= now, free)
        async with self.database.read() as connection:
            rows = (await connection.execute(sa.select(reminders).where(due).limit(200))).all()
        if not rows:
            return 0
        claimed = []
        async with self.database.write() as connection:
            for row in rows:
                pk = (reminders.c.booking_id == row.booking_id, reminders.c.offset_s == row.offset_s,
                      reminders.c.start_s == row.start_s)
                changed = await connection.execute(
                    reminders.update().where(*pk, due).values(claimed_by=self.me, claimed_s=now)
                )
                if changed.rowcount:
                    claimed.append(row)
        for row in claimed:
            await self._send(row)
        return len(claimed)

    async def _send(self, row: Any) -> None:
        try:
            slot = await self.bookings.by_booking(row.booking_id)
        except Exception:
            slot = None
        if slot is not None and slot.state == BOOKED and slot.start_s == row.start_s:
            ident = f"scheduling-reminder-{row.booking_id}-{row.start_s}-{row.offset_s:g}"
            await self.tell(slot, f"in {_span(row.offset_s)}", ident)
            self.sent()
        async with self.database.write() as connection:
            await connection.execute(
                reminders.update().where(reminders.c.booking_id == row.booking_id, reminders.c.offset_s == row.offset_s,
                                         reminders.c.start_s == row.start_s, reminders.c.claimed_by == self.me)
                .values(sent_at=utc_timestamp())
            )


def _span(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"
