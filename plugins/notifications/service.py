"""The Python API other code in the hub uses: the service ``notifications``.

Other plugins must not import this module. They declare the protocol they need
in their own module, look the service up at call time and carry on without it::

    @runtime_checkable
    class Notifier(Protocol):
        async def notify(self, users: Sequence[str], title: str, body: str,
                         data: dict[str, Any] | None = None, id: str | None = None) -> Mapping[str, Any]: ...

    notifications = hub.services.get("notifications", Notifier)
    if notifications is not None:
        await notifications.notify(["alice"], "Your export is ready", "3 files", {"url": url})
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from hub import Hub, utc_timestamp

from .config import Limits
from .store import NotificationStore, Stored
from .validation import Draft, draft

CREATED = "notification.created"
READ = "notification.read"
PUBLISH_CHUNK = 500  # concurrent publishes: the event log commits them together


class NotificationService:
    """Create notifications and change their read state; every change reaches the user's inbox."""

    def __init__(self, hub: Hub, store: NotificationStore, limits: Limits) -> None:
        self.hub = hub
        self.store = store
        self.limits = limits
        self.created = hub.metrics.counter(
            "hub_notifications_created_total", "Notifications stored, one per user (repeats of an id not counted)."
        )
        self.read = hub.metrics.counter("hub_notifications_read_total", "Notifications marked read.")

    async def notify(
        self,
        users: Sequence[str],
        title: str,
        body: str,
        data: dict[str, Any] | None = None,
        id: str | None = None,
        *,
        sender: str | None = None,
    ) -> dict[str, Any]:
        """Tell ``users`` something: one stored notification each, and ``notification.created`` in their inbox.

        Connected users get it at once on every connection; the others when they
        next connect (the inbox is the core's offline queue). ``id`` makes it
        idempotent: calling again with the same id stores and delivers nothing
        new for users who already have it. Raises ``InvalidMessage`` for bad input,
        with the same limits as the HTTP route.
        Returns ``{"id", "users", "created"}``: the id, how many distinct users,
        how many rows were new.
        """
        if isinstance(users, (tuple, set, frozenset)):
            users = list(users)
        checked = draft(users, title, body, data, id, self.limits)
        return await self.deliver(checked, sender=sender)

    async def deliver(self, checked: Draft, sender: str | None = None) -> dict[str, Any]:
        """Store and publish a checked :class:`Draft` (the HTTP route's path into the service)."""
        rows, created = await self.store.add(checked, utc_timestamp())
        self.created.inc(created)
        # Stored first, then published: a retry after a failure here republishes,
        # and the event log's (topic, id) idempotency lets each user get it once.
        for start in range(0, len(rows), PUBLISH_CHUNK):
            await asyncio.gather(*(self._publish_created(row, sender) for row in rows[start:start + PUBLISH_CHUNK]))
        return {"id": checked.id, "users": len(rows), "created": created}

    async def _publish_created(self, row: Stored, sender: str | None) -> None:
        payload = row.to_dict()
        del payload["read_at"]
        await self.hub.publish(f"user:{row.user}", CREATED, payload, id=row.id, sender=sender)

    async def mark_read(self, user: str, ids: Sequence[str] | None) -> dict[str, Any]:
        """Mark a user's notifications read (``ids=None``: all); ``{"read", "unread"}``.

        When anything changed, ``notification.read`` goes to the user's inbox so
        their other devices clear it: ``{"ids": [...], "read_at", "unread"}``, or
        ``{"all": true, "read_at", "unread"}``.
        """
        read_at = utc_timestamp()
        changed, count, unread = await self.store.mark_read(user, ids, read_at)
        self.read.inc(count)
        if count:
            data: dict[str, Any] = {"ids": changed} if ids is not None else {"all": True}
            data.update(read_at=read_at, unread=unread)
            await self.hub.publish(f"user:{user}", READ, data, id=f"read-{uuid.uuid4().hex}", sender=user)
        return {"read": count, "unread": unread}

    async def unread_count(self, user: str) -> int:
        """How many notifications ``user`` has not read."""
        return await self.store.unread_count(user)
