"""Where presence state lives: the interface, and the choice of backend.

The state is keyed by room and user, and every connection is counted under
the hub process (``node``) that holds it. A store shared by several hub
processes (Redis, for the scale-out) therefore stays right: a user is a member
of a room while any process counts a connection of theirs there, and a process
that stops can drop exactly its own connections (:meth:`PresenceStore.drop_node`).

Everything a decision depends on (first connection in, last connection out,
the typing throttle) is answered by the store in one call, so a backend can
make each call atomic (a Lua script or a transaction in Redis).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any


@dataclass(frozen=True)
class Member:
    """A user in a room: one member however many connections (tabs, devices) they have."""

    user: str
    name: str | None
    connections: int
    since: str  # RFC 3339, when the user's first connection joined

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, "name": self.name, "connections": self.connections, "since": self.since}


class TypingOutcome(Enum):
    """What a ``presence.typing`` request does to the room."""

    SENT = "sent"  # the room must be told
    THROTTLED = "throttled"  # a typing: true within the throttle window: not broadcast
    UNCHANGED = "unchanged"  # typing: false while the room was not told otherwise


class PresenceStore(ABC):
    """Presence state of every room and user, shared by the hub processes using it.

    ``node`` names the calling hub process; ``connection`` is a Socket.IO
    session id. Times are RFC 3339 strings (``since``) or seconds (``now``,
    a clock shared by the processes: ``time.time()``).
    """

    @abstractmethod
    async def join(self, room: str, user: str, name: str | None, node: str, connection: str, since: str) -> bool:
        """Count ``connection`` in ``room``; True when it is the user's first there (they joined)."""

    @abstractmethod
    async def leave(self, room: str, user: str, node: str, connection: str) -> bool:
        """Stop counting ``connection`` in ``room``; True when it was the user's last there (they left)."""

    @abstractmethod
    async def members(self, room: str) -> list[Member]:
        """The room's members, earliest first."""

    @abstractmethod
    async def member(self, room: str, user: str) -> Member | None:
        """One member of the room, or None."""

    @abstractmethod
    async def recipients(self, room: str, skip_user: str) -> list[str]:
        """The connection ids in ``room`` of every user but ``skip_user`` (on every node)."""

    @abstractmethod
    async def connect(self, user: str, node: str, connection: str) -> bool:
        """Count a connection of ``user``; True when it is their first anywhere (they came online)."""

    @abstractmethod
    async def disconnect(self, user: str, node: str, connection: str) -> bool:
        """Stop counting it; True when it was the user's last anywhere (they went offline)."""

    @abstractmethod
    async def online(self, users: Iterable[str]) -> dict[str, bool]:
        """Whether each user has a connection anywhere."""

    @abstractmethod
    async def typing(self, room: str, user: str, typing: bool, now: float, throttle: float) -> TypingOutcome:
        """Record a typing request and say whether the room must be told.

        The store keeps what the room was last told. ``typing: true`` is told
        at most once per ``throttle`` seconds per user and room (a throttled one
        changes nothing); ``typing: false`` is told only if the room was told
        ``true`` last.
        """

    @abstractmethod
    async def is_typing(self, room: str, user: str) -> bool:
        """Whether the room was last told that ``user`` is typing."""

    @abstractmethod
    async def drop_node(self, node: str) -> None:
        """Forget every connection counted under ``node`` (a hub process stopping)."""

    async def close(self) -> None:
        """Release the backend's resources."""

    # Shared stores only: processes that stop without a word ------------------------

    #: Whether other processes share this store (then :meth:`heartbeat` and reaping matter).
    shared = False

    async def heartbeat(self, node: str, ttl: float) -> None:
        """``node`` is alive for ``ttl`` more seconds; past that, survivors reap it."""

    async def dead_nodes(self) -> list[str]:
        """Nodes whose time ran out, each claimed by this caller only (for a while)."""
        return []

    async def node_entries(self, node: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
        """What ``node`` still counts: ``(room, user, connection)`` and ``(user, connection)``."""
        return [], []

    async def forget_node(self, node: str) -> None:
        """``node`` is reaped: forget it."""


def open_store(url: str, prefix: str = "hub:presence") -> PresenceStore:
    """The store named by ``url``: ``memory://`` (one process; the default) or ``redis://...``.

    ``prefix`` starts every Redis key, so several hubs can share one Redis.
    """
    scheme = url.partition("://")[0]
    if scheme == "memory":
        from .memory import MemoryPresenceStore

        return MemoryPresenceStore()
    if scheme in ("redis", "rediss", "unix"):
        from .redis_store import RedisPresenceStore

        return RedisPresenceStore(url, prefix)
    raise ValueError(f"presence: unsupported store {url!r} (supported: memory://, redis://)")
