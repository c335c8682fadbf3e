"""Holds and bookings: one table, one state per row, and the database refusing any overlap.

Every change is one write transaction that first releases the resource's
expired holds (so they never block) and then inserts or updates the row; the
overlap check is the database's own (an exclusion constraint on PostgreSQL,
triggers on SQLite, where the hub's single writer also makes the transaction
take its turn). An overlap is an ``IntegrityError``, answered as ``conflict``.
Events go out after the commit.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import Conflict, Database, Forbidden, InvalidMessage, LimitExceeded, NotFound, Principal, utc_timestamp

from .availability import is_slot
from .catalog import Catalog, ConsultationType, Resource
from .config import SchedulingConfig
from .tables import ACTIVE, BOOKED, CANCELLED, HELD, RELEASED, reminders, slots


@dataclass(frozen=True)
class Slot:
    """One row of ``scheduling_slots``: a hold or a booking."""

    id: str
    booking_id: str | None
    resource_id: str
    type_id: str
    client: str
    state: str
    start_s: int
    end_s: int
    busy_s: int
    expires_s: float | None
    version: int

    @classmethod
    def of(cls, row: Any) -> Slot:
        return cls(row.id, row.booking_id, row.resource_id, row.type_id, row.client, row.state, row.start_s,
                   row.end_s, row.busy_s, row.expires_s, row.version)


#: ``await announce(event_type, slot)``: publish one change (after its commit).
Announce = Callable[[str, Slot], Awaitable[None]]


def _key(scope: str, key: Any) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not 1 <= len(key) <= 200:
        raise InvalidMessage("'id' (the idempotency key) must be a string of 1 to 200 characters.")
    return f"{scope}\x1f{key}"


class Bookings:
    """Hold, book, cancel and reschedule; the only code that writes ``scheduling_slots``."""

    def __init__(self, database: Database, catalog: Catalog, config: SchedulingConfig, announce: Announce,
                 booked: Callable[[], None]) -> None:
        self.database = database
        self.catalog = catalog
        self.config = config
        self.announce = announce
        self.booked = booked  # wakes the reminder clock

    # Reading ------------------------------------------------------------------

    async def busy(self, resource_id: str, start_s: float, end_s: float) -> list[Slot]:
        """The active holds and bookings of a resource that meet ``[start_s, end_s)`` (expired holds left out)."""
        now = time.time()
        async with self.database.read() as connection:
            rows = await connection.execute(
                sa.select(slots).where(
                    slots.c.resource_id == resource_id, slots.c.state.in_(ACTIVE),
                    slots.c.start_s < end_s, slots.c.busy_s > start_s,
                    sa.or_(slots.c.state == BOOKED, slots.c.expires_s > now),
                )
            )
            return [Slot.of(row) for row in rows]

    async def by_booking(self, booking_id: str) -> Slot:
        async with self.database.read() as connection:
            row = (await connection.execute(sa.select(slots).where(slots.c.booking_id == booking_id))).first()
        if row is None:
            raise NotFound(f"No booking {booking_id!r}.")
        return Slot.of(row)

    async def booked_slots(self, *, client: str | None = None, resource_id: str | None = None) -> list[Slot]:
        """Bookings (and cancelled ones, for calendars to drop) of a client or of a resource."""
        query = sa.select(slots).where(slots.c.state.in_((BOOKED, CANCELLED)), slots.c.booking_id.is_not(None))
        query = query.where(slots.c.client == client) if client is not None else query
        query = query.where(slots.c.resource_id == resource_id) if resource_id is not None else query
        async with self.database.read() as connection:
            return [Slot.of(row) for row in await connection.execute(query.order_by(slots.c.start_s).limit(5000))]

    # Checks -------------------------------------------------------------------

    async def _slot_of(self, resource_id: str, start: datetime, type_id: str) -> tuple[Resource, ConsultationType, int]:
        resource = await self.catalog.resource(resource_id)
        kind = await self.catalog.type(type_id)
        start_s = start.timestamp()
        if start_s != int(start_s):
            raise InvalidMessage("'start' must be a whole second.")
        now = time.time()
        if start_s <= now:
            raise Conflict("That slot has already begun.")
        if start_s > now + self.config.horizon_days * 86400:
            raise InvalidMessage(f"Slots can be taken at most {self.config.horizon_days} days ahead.")
        if not is_slot(resource.schedule, kind.duration_s, kind.buffer_s, int(start_s)):
            raise Conflict(f"{start.isoformat()} is not a slot of {resource_id!r} for {type_id!r}.")
        return resource, kind, int(start_s)

    def _may_change(self, principal: Principal, slot: Slot, resource: Resource, action: str) -> None:
        privileged = principal.is_admin or principal.is_service
        if not privileged and principal.user not in (slot.client, resource.owner):
            raise NotFound(f"No booking {slot.booking_id!r}.")  # someone else's: not even its existence
        if not privileged and slot.start_s - time.time() < self.config.cancel_before_seconds:
            raise Forbidden(f"Bookings can be {action} until {self.config.cancel_before_seconds:g} s before the start.")

    # Writing ------------------------------------------------------------------

    async def _release_expired(self, connection: AsyncConnection, resource_id: str | None, now: float) -> list[Slot]:
        where = [slots.c.state == HELD, slots.c.expires_s <= now]
        if resource_id is not None:
            where.append(slots.c.resource_id == resource_id)
        # In id order: transactions releasing the same rows lock them in one order, so they never deadlock.
        query = sa.select(slots).where(*where).order_by(slots.c.id).limit(1000)
        rows = [Slot.of(row) for row in await connection.execute(query)]
        released = []
        for slot in rows:
            changed = await connection.execute(
                slots.update().where(slots.c.id == slot.id, slots.c.state == HELD)
                .values(state=RELEASED, version=slots.c.version + 1, updated_at=utc_timestamp())
            )
            if changed.rowcount:  # another process may have released it first: announced once, by that one
                released.append(replace(slot, state=RELEASED))
        return released

    async def _announce_all(self, event_type: str, changed: Sequence[Slot]) -> None:
        for slot in changed:
            await self.announce(event_type, slot)

    async def release_expired(self) -> int:
        """Release every expired hold (announced as ``slot.released``); how many."""
        now = time.time()
        async with self.database.read() as connection:
            due = await connection.scalar(
                sa.select(sa.func.count()).select_from(slots).where(slots.c.state == HELD, slots.c.expires_s <= now)
            )
        if not due:  # a read first: an idle hub never takes SQLite's writer for nothing
            return 0
        async with self.database.write() as connection:
            released = await self._release_expired(connection, None, now)
        await self._announce_all("slot.released", released)
        return len(released)

    async def next_expiry(self) -> float | None:
        async with self.database.read() as connection:
            found = await connection.scalar(sa.select(sa.func.min(slots.c.expires_s)).where(slots.c.state == HELD))
        return None if found is None else float(found)

    async def _lock_user(self, connection: AsyncConnection, user: str) -> None:
        if self.database.dialect == "postgresql":
            # Writes run side by side there: one user's holds take turns, so the count holds.
            await connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"scheduling:{user}"})

    async def hold(self, user: str, resource_id: str, start: datetime, type_id: str) -> Slot:
        """Hold a slot for ``user``: ``Conflict`` when it is taken, ``LimitExceeded`` past the user's holds."""
        resource, kind, start_s = await self._slot_of(resource_id, start, type_id)
        now = time.time()
        stamp = utc_timestamp()
        slot = Slot(uuid.uuid4().hex, None, resource.id, kind.id, user, HELD, start_s, start_s + kind.duration_s,
                    start_s + kind.duration_s + kind.buffer_s, now + self.config.hold_seconds, 1)
        try:
            async with self.database.write() as connection:
                released = await self._release_expired(connection, resource.id, now)
                await self._lock_user(connection, user)
                holding = await connection.scalar(
                    sa.select(sa.func.count()).select_from(slots)
                    .where(slots.c.client == user, slots.c.state == HELD, slots.c.expires_s > now)
                )
                if (holding or 0) >= self.config.max_holds_per_user:
                    raise LimitExceeded(f"You hold {holding} slots, the most allowed: book or let one go first.")
                await connection.execute(slots.insert().values(
                    id=slot.id, booking_id=None, resource_id=slot.resource_id, type_id=slot.type_id,
                    client=user, state=HELD, start_s=slot.start_s, end_s=slot.end_s, busy_s=slot.busy_s,
                    expires_s=slot.expires_s, idem_key=None, version=1, created_at=stamp, updated_at=stamp,
                ))
        except sa.exc.IntegrityError:
            raise Conflict("That slot is taken.") from None
        await self._announce_all("slot.released", released)
        await self.announce("slot.held", slot)
        return slot

    async def book(self, user: str, hold_id: str, key: str | None) -> tuple[Slot, bool]:
        """Turn the user's hold into a booking: ``(slot, created)``; a second confirmation finds the first."""
        idem = _key(user, key)
        now = time.time()
        booking_id = uuid.uuid4().hex
        try:
            async with self.database.write() as connection:
                if idem is not None:
                    row = (await connection.execute(sa.select(slots).where(slots.c.idem_key == idem))).first()
                    if row is not None:
                        return Slot.of(row), False
                changed = await connection.execute(
                    slots.update().where(slots.c.id == hold_id, slots.c.client == user, slots.c.state == HELD,
                                         slots.c.expires_s > now)
                    .values(state=BOOKED, booking_id=booking_id, idem_key=idem, expires_s=None,
                            version=slots.c.version + 1, updated_at=utc_timestamp())
                )
                row = (await connection.execute(sa.select(slots).where(slots.c.id == hold_id))).first()
                if row is None or row.client != user:
                    raise NotFound(f"No hold {hold_id!r} of yours.")
                slot = Slot.of(row)
                if not changed.rowcount:
                    if slot.state == BOOKED:
                        return slot, False  # confirmed already: the same booking
                    raise Conflict("That hold has expired; hold the slot again.")
                await self._add_reminders(connection, slot, now)
        except sa.exc.IntegrityError:
            # The key was taken meanwhile by another hold's booking: that one is the answer.
            found = await self._by_key(idem) if idem is not None else None
            if found is None:
                raise Conflict("That slot is taken.") from None
            return found, False
        await self.announce("slot.booked", slot)
        self.booked()
        return slot, True

    async def book_direct(self, principal: Principal, client: str, resource_id: str, start: datetime,
                          type_id: str, key: str | None) -> tuple[Slot, bool]:
        """A booking without a hold (a service's), idempotent by the caller's ``key``: ``(slot, created)``."""
        idem = _key(f"direct:{principal.user}", key)
        if idem is not None:
            found = await self._by_key(idem)
            if found is not None:
                return found, False
        resource, kind, start_s = await self._slot_of(resource_id, start, type_id)
        now, stamp, booking_id = time.time(), utc_timestamp(), uuid.uuid4().hex
        slot = Slot(uuid.uuid4().hex, booking_id, resource.id, kind.id, client, BOOKED, start_s,
                    start_s + kind.duration_s, start_s + kind.duration_s + kind.buffer_s, None, 1)
        try:
            async with self.database.write() as connection:
                released = await self._release_expired(connection, resource.id, now)
                await connection.execute(slots.insert().values(
                    id=slot.id, booking_id=booking_id, resource_id=slot.resource_id, type_id=slot.type_id,
                    client=client, state=BOOKED, start_s=slot.start_s, end_s=slot.end_s, busy_s=slot.busy_s,
                    expires_s=None, idem_key=idem, version=1, created_at=stamp, updated_at=stamp,
                ))
                await self._add_reminders(connection, slot, now)
        except sa.exc.IntegrityError:
            found = await self._by_key(idem) if idem is not None else None
            if found is not None:
                return found, False  # the same request, twice at once: the first one's booking
            raise Conflict("That slot is taken.") from None
        await self._announce_all("slot.released", released)
        await self.announce("slot.booked", slot)
        self.booked()
        return slot, True

    async def _by_key(self, idem: str) -> Slot | None:
        async with self.database.read() as connection:
            row = (await connection.execute(sa.select(slots).where(slots.c.idem_key == idem))).first()
        return None if row is None else Slot.of(row)

    async def cancel(self, principal: Principal, booking_id: str) -> tuple[Slot, bool]:
        """Cancel a booking (its client, the resource's owner, an admin or a service): ``(slot, changed)``."""
        slot = await self.by_booking(booking_id)
        resource = await self.catalog.resource(slot.resource_id)
        self._may_change(principal, slot, resource, "cancelled")
        async with self.database.write() as connection:
            changed = await connection.execute(
                slots.update().where(slots.c.booking_id == booking_id, slots.c.state == BOOKED)
                .values(state=CANCELLED, version=slots.c.version + 1, updated_at=utc_timestamp())
            )
            await connection.execute(
                reminders.delete().where(reminders.c.booking_id == booking_id, reminders.c.sent_at.is_(None))
            )
        slot = replace(slot, state=CANCELLED, version=slot.version + (1 if changed.rowcount else 0))
        if changed.rowcount:
            await self.announce("slot.freed", slot)
        return slot, bool(changed.rowcount)

    async def reschedule(self, principal: Principal, booking_id: str, start: datetime) -> tuple[Slot, Slot]:
        """Move a booking to another slot in one transaction: ``(old, new)``; the old is freed only if the new is taken."""
        old = await self.by_booking(booking_id)
        if old.state != BOOKED:
            raise Conflict("That booking was cancelled.")
        resource = await self.catalog.resource(old.resource_id)
        self._may_change(principal, old, resource, "rescheduled")
        _, kind, start_s = await self._slot_of(old.resource_id, start, old.type_id)
        new = replace(old, start_s=start_s, end_s=start_s + kind.duration_s,
                      busy_s=start_s + kind.duration_s + kind.buffer_s, version=old.version + 1)
        now = time.time()
        try:
            async with self.database.write() as connection:
                released = await self._release_expired(connection, old.resource_id, now)
                changed = await connection.execute(
                    slots.update().where(slots.c.booking_id == booking_id, slots.c.state == BOOKED,
                                         slots.c.start_s == old.start_s)
                    .values(start_s=new.start_s, end_s=new.end_s, busy_s=new.busy_s,
                            version=slots.c.version + 1, updated_at=utc_timestamp())
                )
                if not changed.rowcount:
                    raise Conflict("The booking changed meanwhile; read it again.")
                await connection.execute(
                    reminders.delete().where(reminders.c.booking_id == booking_id, reminders.c.sent_at.is_(None))
                )
                await self._add_reminders(connection, new, now)
        except sa.exc.IntegrityError:
            raise Conflict("That slot is taken; the booking stays where it was.") from None
        await self._announce_all("slot.released", released)
        await self.announce("slot.booked", new)
        await self.announce("slot.freed", old)
        self.booked()
        return old, new

    async def _add_reminders(self, connection: AsyncConnection, slot: Slot, now: float) -> None:
        rows = [{"booking_id": slot.booking_id, "offset_s": offset, "start_s": slot.start_s,
                 "due_s": slot.start_s - offset, "claimed_by": None, "claimed_s": None, "sent_at": None}
                for offset in self.config.reminder_offsets if slot.start_s - offset > now]
        if rows:
            await connection.execute(reminders.insert(), rows)

    async def release(self, user: str, hold_id: str) -> bool:
        """Give back one of ``user``'s holds before it expires (announced as ``slot.released``)."""
        async with self.database.write() as connection:
            row = (await connection.execute(sa.select(slots).where(slots.c.id == hold_id))).first()
            if row is None or row.client != user or row.state != HELD:
                return False
            await connection.execute(
                slots.update().where(slots.c.id == hold_id, slots.c.state == HELD)
                .values(state=RELEASED, version=slots.c.version + 1, updated_at=utc_timestamp())
            )
        await self.announce("slot.released", replace(Slot.of(row), state=RELEASED))
        return True
