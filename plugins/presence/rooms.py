"""Rooms: who is in ``presence:<room>``, with joins, leaves, the grace period and typing.

A user is one member of a room however many of their connections subscribed
to it: ``presence.joined`` goes out when the first one joins and
``presence.left`` when the last one leaves. A connection lost without a clean
disconnect stays counted for ``grace_seconds``; a connection of the same user
that joins the room meanwhile takes its place, so a quick reconnect emits nothing.

The shared state is in a :class:`~.store.PresenceStore`; what only this
process can do (timers, and which of its connections are counted where) is here.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from hub import Connection, Envelope, Forbidden, Hub, Principal, utc_timestamp

from .config import PresenceConfig
from .last_seen import LastSeen
from .store import Member, PresenceStore, TypingOutcome

KIND = "presence"
logger = logging.getLogger("hub.presence")
#: The rooms of a connection in none (shared; a connection's own set is made on its first join).
_NO_ROOMS: frozenset[str] = frozenset()


class Presence:
    """The presence of one hub process: the plugin's state and its Python API."""

    def __init__(self, hub: Hub, config: PresenceConfig, store: PresenceStore, last_seen: LastSeen) -> None:
        self.hub = hub
        self.config = config
        self.store = store
        self.last_seen = last_seen
        #: This process's name in the shared store.
        self.node = secrets.token_hex(6)
        # This process's connections (lingering ones included): by user, and the rooms each is counted in.
        self._by_user: dict[str, set[str]] = {}
        self._rooms_of: dict[str, Any] = {}  # a set of topics, or _NO_ROOMS
        # Lost connections within their grace period: connection id -> (user, timer).
        self._lingering: dict[str, tuple[str, asyncio.Task[Any]]] = {}
        self._typing_timers: dict[tuple[str, str], asyncio.Task[Any]] = {}
        # Per room and user: the lock and how many tasks hold or await it.
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, list[int]]] = {}
        # Connections that ended, waiting for their leaves (see _leave_soon), and the task doing them.
        self._leaving: deque[tuple[str, str]] = deque()
        self._leaver: asyncio.Task[None] | None = None
        self._stopped = False
        # Computed when the metrics are read (a scrape of /metrics, hub.metrics.read()): nothing to keep in step.
        hub.metrics.gauge(
            "hub_presence_online_users", "Users connected to this process (those within their grace period included)."
        ).set_function(lambda: len(self._by_user))
        hub.metrics.gauge("hub_presence_rooms", "Rooms with a member connected to this process.").set_function(
            lambda: len(set().union(*self._rooms_of.values()))
        )
        hub.metrics.gauge(
            "hub_presence_members", "Room memberships of this process's connections (one per connection and room)."
        ).set_function(lambda: sum(len(rooms) for rooms in self._rooms_of.values()))

    @asynccontextmanager
    async def _serialized(self, topic: str, user: str) -> AsyncIterator[None]:
        """One change at a time per room and user, so joined, typing and left go out in order."""
        key = (topic, user)
        entry = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0] and self._locks.get(key) is entry:
                del self._locks[key]

    def track(self, connection: Connection) -> None:
        """Know ``connection`` as one of this process's (idempotent).

        Called on connect, and again before a presence subscription: a client may
        subscribe before the hub has run ``hub_connect`` for it.
        """
        self._by_user.setdefault(connection.user, set()).add(connection.id)
        # No room yet: one shared empty set, replaced on the first join (a set costs 216
        # bytes, and most connections hold no presence room).
        self._rooms_of.setdefault(connection.id, _NO_ROOMS)

    # Membership -------------------------------------------------------------

    async def snapshot(self, principal: Principal, topic: str) -> dict[str, Any]:
        """The members of ``topic``, the subscribing user included.

        The hub computes the snapshot before ``hub_subscribe`` counts the new
        connection, so the subscriber's own connection is added here.
        """
        members = {member.user: member for member in await self.store.members(topic)}
        user = principal.user
        pending = sum(
            1
            for connection_id in self._by_user.get(user, ())
            if (connection := self.hub.connections.get(connection_id)) is not None
            and topic in connection.subscriptions
            and topic not in self._rooms_of.get(connection_id, ())
        )
        if pending:
            lingering = sum(1 for cid in self._lingering_of(user) if topic in self._rooms_of.get(cid, ()))
            current = members.get(user)
            if current is None:
                members[user] = Member(user, principal.name, pending, utc_timestamp())
            else:
                count = max(1, current.connections + pending - min(pending, lingering))
                members[user] = Member(user, principal.name or current.name, count, current.since)
        ordered = sorted(members.values(), key=lambda member: (member.since, member.user))
        return {"members": [member.to_dict() for member in ordered]}

    async def members(self, room: str) -> list[Member]:
        """The members of ``presence:<room>``, earliest first."""
        return await self.store.members(f"{KIND}:{room}")

    async def join(self, connection: Connection, topic: str) -> None:
        """Count ``connection`` in ``topic``; announce the user if it is their first connection there."""
        user = connection.user
        if connection.id not in self.hub.connections:
            return  # it disconnected meanwhile
        self.track(connection)
        async with self._serialized(topic, user):
            rooms = self._rooms_of.get(connection.id)
            if rooms is None or topic in rooms or self._stopped:
                return
            if rooms is _NO_ROOMS:
                rooms = self._rooms_of[connection.id] = set()
            rooms.add(topic)
            since = utc_timestamp()
            first = await self.store.join(topic, user, connection.principal.name, self.node, connection.id, since)
            # A reconnect within the grace period takes the lost connection's place.
            for old in self._lingering_of(user):
                if topic in self._rooms_of.get(old, ()):
                    self._rooms_of[old].discard(topic)
                    await self.store.leave(topic, user, self.node, old)
                    break
            if first:
                data = {"user": user, "name": connection.principal.name, "since": since}
                await self.hub.publish(topic, "presence.joined", data, sender=user, skip_connection=connection.id)

    async def leave(self, connection_id: str, user: str, topic: str) -> None:
        """Stop counting the connection in ``topic``; announce the user's leave if it was their last there."""
        async with self._serialized(topic, user):
            rooms = self._rooms_of.get(connection_id)
            if rooms is None or topic not in rooms:
                return
            rooms.discard(topic)
            was_typing = await self.store.is_typing(topic, user)
            if not await self.store.leave(topic, user, self.node, connection_id):
                return
            self._cancel_typing_timer(topic, user)
            if was_typing:
                await self._send_typing(topic, user, False)
            await self.hub.publish(topic, "presence.left", {"user": user}, sender=user)

    # Connections --------------------------------------------------------------

    async def connected(self, connection: Connection) -> None:
        if connection.id not in self.hub.connections or self._stopped:
            return  # it disconnected meanwhile
        self.track(connection)
        if await self.store.connect(connection.user, self.node, connection.id):
            await self._seen({connection.user: utc_timestamp()})

    async def disconnected(self, connection: Connection) -> None:
        """A connection closed: it leaves now, or after the grace period when it was lost."""
        if self._stopped or connection.id not in self._rooms_of:
            return
        if connection.lost and self.config.grace_seconds > 0:
            timer = self.hub.start_task(self._linger(connection.id, connection.user), name=f"presence-grace-{connection.id}")
            self._lingering[connection.id] = (connection.user, timer)
            return
        self._leave_soon(connection.id, connection.user)

    def _leave_soon(self, connection_id: str, user: str) -> None:
        """Queue a connection's leaves for the one task that works through them.

        Thousands of clients disconnecting at once would otherwise each run their
        leaves (an event per room, the store, last seen) in their own task, and
        every other task of the hub (a health check, a publish) would wait its turn
        behind all of them; one task yielding after each connection lets the rest
        of the hub in between.
        """
        self._leaving.append((connection_id, user))
        if self._leaver is None or self._leaver.done():
            self._leaver = self.hub.start_task(self._leave_queued(), name="presence-leaving")

    async def _leave_queued(self) -> None:
        while self._leaving and not self._stopped:
            connection_id, user = self._leaving.popleft()
            try:
                await self._gone(connection_id, user)
            except Exception:
                logger.exception("presence: removing connection %s failed", connection_id)
            await asyncio.sleep(0)

    def _lingering_of(self, user: str) -> list[str]:
        return [cid for cid, (owner, _) in self._lingering.items() if owner == user]

    async def _linger(self, connection_id: str, user: str) -> None:
        await asyncio.sleep(self.config.grace_seconds)
        self._lingering.pop(connection_id, None)
        await self._gone(connection_id, user)

    async def _gone(self, connection_id: str, user: str) -> None:
        for topic in sorted(self._rooms_of.get(connection_id, ())):
            try:
                await self.leave(connection_id, user, topic)
            except Exception:
                logger.exception("presence: leaving %s failed", topic)
        self._rooms_of.pop(connection_id, None)
        connections = self._by_user.get(user)
        if connections is not None:
            connections.discard(connection_id)
            if not connections:
                del self._by_user[user]
        # Written before the user can be reported offline, so whoever sees them offline
        # also sees this time. (A user with other connections left is "seen now" anyway.)
        await self._seen({user: utc_timestamp()})
        await self.store.disconnect(user, self.node, connection_id)

    # Online status ------------------------------------------------------------

    async def users(self, user_ids: list[str]) -> list[dict[str, Any]]:
        """Each user's ``{user, online, last_seen}``; an online user was last seen now."""
        online = await self.store.online(user_ids)
        stored = await self.last_seen.read(user_id for user_id in user_ids if not online.get(user_id))
        now = utc_timestamp()
        return [
            {"user": user_id, "online": online.get(user_id, False),
             "last_seen": now if online.get(user_id) else stored.get(user_id)}
            for user_id in user_ids
        ]

    async def _seen(self, seen: dict[str, str]) -> None:
        try:
            await self.last_seen.write(seen)
        except Exception:  # the database being down must not keep anyone online or in a room
            logger.exception("presence: writing last-seen times failed")

    async def record_online(self) -> None:
        """Write "seen now" for every user connected to this process."""
        now = utc_timestamp()
        await self._seen({user: now for user in self._by_user})

    async def last_seen_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.last_seen_interval_seconds)
            await self.record_online()

    async def stop(self) -> None:
        """The hub is stopping: its users were seen now, and its connections count no more."""
        self._stopped = True
        for _, timer in self._lingering.values():
            timer.cancel()
        for timer in self._typing_timers.values():
            timer.cancel()
        if self._leaver is not None:
            self._leaver.cancel()  # who was still queued is recorded as seen now, below
        try:
            await self.record_online()
        finally:
            await self.store.drop_node(self.node)
            await self.store.close()

    # Other processes ------------------------------------------------------------

    @property
    def heartbeat_interval(self) -> float:
        """How often this process renews its liveness in a shared store."""
        grace = self.config.grace_seconds
        return min(5.0, max(0.25, grace / 3)) if grace > 0 else 1.0

    async def heartbeat_loop(self) -> None:
        """Keep this process alive in a shared store, and reap the processes that died.

        A process's deadline is one interval past the grace period, so its users
        leave no sooner than the grace period after it stopped answering: the
        same wait as for a connection lost without a goodbye.
        """
        ttl = self.config.grace_seconds + self.heartbeat_interval
        while not self._stopped:
            try:
                await self.store.heartbeat(self.node, ttl)
                for node in await self.store.dead_nodes():
                    if node != self.node:
                        await self.reap(node)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("presence: heartbeat or reaping failed")
            await asyncio.sleep(self.heartbeat_interval)

    async def reap(self, node: str) -> None:
        """A process died (its deadline passed): its users leave where it held their last connection."""
        rooms, users = await self.store.node_entries(node)
        for topic, user, connection_id in rooms:
            async with self._serialized(topic, user):
                was_typing = await self.store.is_typing(topic, user)
                if not await self.store.leave(topic, user, node, connection_id):
                    continue
                if was_typing:
                    await self._send_typing(topic, user, False)
                await self.hub.publish(topic, "presence.left", {"user": user}, sender=user)
        gone = {user for user, _ in users}
        if gone:
            await self._seen({user: utc_timestamp() for user in gone})
        for user, connection_id in users:
            await self.store.disconnect(user, node, connection_id)
        await self.store.forget_node(node)
        logger.info("presence: reaped process %s (%d room entries, %d connections)", node, len(rooms), len(users))

    # Typing -------------------------------------------------------------------

    async def typing(self, connection: Connection, topic: str, typing: bool) -> bool:
        """Handle ``presence.typing``; True when it was throttled (not broadcast)."""
        if topic not in connection.subscriptions:
            raise Forbidden(f"Subscribe to {topic} before sending typing indicators there.")
        user = connection.user
        async with self._serialized(topic, user):
            outcome = await self.store.typing(topic, user, typing, time.time(), self.config.typing_throttle)
            if outcome is TypingOutcome.SENT:
                await self._send_typing(topic, user, typing)
            if not typing:
                self._cancel_typing_timer(topic, user)
            elif outcome is TypingOutcome.SENT or await self.store.is_typing(topic, user):
                # Shown to the room: this request (sent or throttled) renews it.
                self._cancel_typing_timer(topic, user)
                self._typing_timers[(topic, user)] = self.hub.start_task(
                    self._typing_expires(topic, user), name=f"presence-typing-{user}"
                )
        return outcome is TypingOutcome.THROTTLED

    async def _typing_expires(self, topic: str, user: str) -> None:
        await asyncio.sleep(self.config.typing_timeout_seconds)
        key = (topic, user)
        async with self._serialized(topic, user):
            if self._typing_timers.get(key) is not asyncio.current_task():
                return  # renewed (or ended) while this timer waited for the lock
            del self._typing_timers[key]
            if await self.store.typing(topic, user, False, time.time(), 0) is TypingOutcome.SENT:
                await self._send_typing(topic, user, False)

    def _cancel_typing_timer(self, topic: str, user: str) -> None:
        timer = self._typing_timers.pop((topic, user), None)
        if timer is not None:
            timer.cancel()

    async def _send_typing(self, topic: str, user: str, typing: bool) -> None:
        """``presence.typing`` to every member's connections but the typing user's own."""
        envelope = Envelope.build(topic, "presence.typing", {"user": user, "typing": typing}, meta={"sender": user})
        for connection_id in await self.store.recipients(topic, skip_user=user):
            await self.hub.send(connection_id, envelope)
