"""Caps on what one connection and one user hold: subscriptions per connection, connections per user.

Each subscription costs the hub memory (a room entry, cursors, plugin state) and
each connection a socket and its buffers; without a cap one client could hold
100,000 rooms or a thousand connections. ``HUB_MAX_SUBSCRIPTIONS`` and
``HUB_MAX_CONNECTIONS_PER_USER`` set them (0: no cap); past one the client gets
``limit_exceeded`` and what it already holds keeps working.

Connections are counted in this process only: with several hub processes
(``hub serve --workers``, Redis) a user may hold the cap on each of them.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from .auth import SERVICE
from .errors import LimitExceeded

if TYPE_CHECKING:
    from .auth import Principal
    from .config import Settings
    from .connection import Connection


def check_subscription_cap(connection: Connection, topic: str, settings: Settings) -> None:
    """Raise :class:`LimitExceeded` if subscribing ``connection`` to ``topic`` would pass ``HUB_MAX_SUBSCRIPTIONS``.

    The connection's own inbox is not counted, and a topic it already follows
    (a subscribe again, with ``since``) costs nothing more.
    """
    cap = settings.max_subscriptions
    if cap <= 0 or topic in connection.subscriptions:
        return
    held = len(connection.subscriptions) - (connection.inbox in connection.subscriptions)
    if held >= cap:
        raise LimitExceeded(
            f"A connection may follow {cap} topics besides its inbox (HUB_MAX_SUBSCRIPTIONS); unsubscribe from one first."
        )


class UserConnections:
    """The connections each user holds in this process, capped at ``HUB_MAX_CONNECTIONS_PER_USER``.

    The role ``service`` is exempt (a backend may hold many). A connection is
    counted from :meth:`admit` until :meth:`release` with its id.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._per_user: Counter[str] = Counter()
        self._counted: dict[str, str] = {}  # connection id -> user, for the connections counted

    def admit(self, connection_id: str, principal: Principal) -> None:
        """Count a new connection of ``principal``, or raise :class:`LimitExceeded` past the cap."""
        if self.cap <= 0 or principal.has_role(SERVICE):
            return
        user = principal.user
        if self._per_user[user] >= self.cap:
            raise LimitExceeded(
                f"A user may hold {self.cap} connections at once (HUB_MAX_CONNECTIONS_PER_USER); close one first."
            )
        self._per_user[user] += 1
        self._counted[connection_id] = user

    def release(self, connection_id: str) -> None:
        """The connection ended: it no longer counts (a connection never counted is ignored)."""
        user = self._counted.pop(connection_id, None)
        if user is None:
            return
        self._per_user[user] -= 1
        if self._per_user[user] <= 0:
            del self._per_user[user]

    def held(self, user: str) -> int:
        """How many counted connections ``user`` holds now."""
        return self._per_user.get(user, 0)


__all__ = ["UserConnections", "check_subscription_cap"]
