"""One client connection: who it is, what it follows (its subscriptions), and its limits."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from .auth import Principal
from .ratelimit import TokenBucket

#: The disconnect reasons of a connection that ended without anyone meaning it to.
LOST_REASONS = frozenset({"lost", "ping_timeout", "slow_consumer"})


@dataclass(eq=False, slots=True)
class Connection:
    """A connected, authenticated Socket.IO client.

    ``id`` is the Socket.IO session id (the ``connection_id`` of ``hub.welcome``).
    Plugins may keep per-connection state in ``state``, under their own name.
    """

    id: str
    principal: Principal
    limiter: TokenBucket
    origin: str | None = None
    connected_at: float = field(default_factory=time.time)
    subscriptions: set[str] = field(default_factory=set)
    state: dict[str, object] = field(default_factory=dict)
    #: Highest durable ``seq`` sent on each topic, so no event goes out twice.
    #: Written by :mod:`hub.streams` only, as is ``catching_up``.
    cursors: dict[str, int] = field(default_factory=dict)
    #: Live events held per topic while a backlog for it is being sent.
    catching_up: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: The subscription of each topic whose kind takes parameters or has a view
    #: (see :mod:`hub.views`); written by :mod:`hub.streams` only.
    views: dict[str, Subscription] = field(default_factory=dict)
    expiry_task: asyncio.Task[None] | None = None
    #: Why the connection ended, once it has: ``client`` (a clean disconnect by
    #: the client), ``server``, ``protocol_error`` (the client sent a frame that
    #: is not Engine.IO), or one of :data:`LOST_REASONS` (the client may come
    #: back soon): ``lost`` (transport closed), ``ping_timeout``, ``slow_consumer``.
    disconnect_reason: str | None = None

    @property
    def lost(self) -> bool:
        """Whether the connection ended without the client or the hub meaning it to."""
        return self.disconnect_reason in LOST_REASONS

    @property
    def user(self) -> str:
        return self.principal.user

    @property
    def inbox(self) -> str:
        return f"user:{self.principal.user}"


@dataclass(frozen=True, eq=False)
class Subscription:
    """One connection's subscription to one topic, as a topic kind's callables see it.

    ``params`` is what the kind's ``params`` validator made of the ``subscribe``
    request's extra keys (``None`` for a kind without one). Subscribing again to
    the same topic replaces the subscription, so a kind never sees two for one
    connection and topic.
    """

    connection: Connection
    topic: str
    key: str
    params: Any = None
    #: For a durable kind, set before ``snapshot_for`` runs: the ``seq`` the reply carries
    #: (a snapshot of a durable kind describes the topic as of that seq), the request's
    #: ``since``, and the reply's ``recovered``. ``None`` for an ephemeral kind.
    seq: int | None = None
    since: int | None = None
    recovered: bool | None = None

    @property
    def principal(self) -> Principal:
        return self.connection.principal

    @property
    def user(self) -> str:
        return self.connection.principal.user
