"""Sessions: admitting connections, welcoming them, and ending them when their token expires."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .auth import Principal, TokenVerifier, bearer_token, token_from_handshake
from .connection import Connection
from .envelope import Envelope, utc_timestamp
from .errors import AuthExpired, Forbidden
from .hookcalls import settle
from .limits import UserConnections
from .ratelimit import TokenBucket

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

    from .streams import Streams
    from .types import CoreHub


class Sessions:
    """The connections of one hub: handshake, welcome and offline queue, token expiry, disconnection."""

    def __init__(self, hub: CoreHub, verifier: TokenVerifier, streams: Streams) -> None:
        self.hub = hub
        self.settings = hub.settings
        self.verifier = verifier
        self.streams = streams
        self.connections: dict[str, Connection] = {}
        #: The next expiry step of each connection: one timer handle, not a sleeping task
        #: per connection (a task and its coroutine frame cost kilobytes per connection).
        self._expiry: dict[str, asyncio.TimerHandle] = {}
        #: Connections per user in this process (``HUB_MAX_CONNECTIONS_PER_USER``).
        self.per_user = UserConnections(self.settings.max_connections_per_user)
        hub.metrics.count_transports(self._by_transport)

    def _by_transport(self) -> dict[str, int]:
        """Open connections by transport, counted when the metrics are read (not on every upgrade)."""
        server = getattr(self.hub, "sio", None)
        manager, eio = getattr(server, "manager", None), getattr(server, "eio", None)
        if manager is None or eio is None:
            return {}
        # python-engineio marks a session "upgraded" once it is on a websocket (or began on one).
        sockets = [eio.sockets.get(manager.eio_sid_from_sid(sid, "/")) for sid in list(self.connections)]
        websocket = sum(1 for sock in sockets if getattr(sock, "upgraded", False))
        return {"websocket": websocket, "polling": len(sockets) - websocket}

    async def authenticate(self, request: HTTPConnection, roles: tuple[str, ...] = ()) -> Principal:
        """The principal of an HTTP request's bearer token; ``roles`` (any of) may be required."""
        token = bearer_token(request.headers.get("authorization"))
        principal = self.verifier.verify(token)
        if roles and not principal.has_role(*roles):
            raise Forbidden(f"This route needs the role {' or '.join(roles)}.")
        return principal

    def admit(self, sid: str, environ: Mapping[str, Any], auth: Any) -> Connection:
        """Verify a handshake; the new connection, or a ``HubError`` to refuse it."""
        token = token_from_handshake(auth, environ)
        principal = self.verifier.verify(token)
        self.per_user.admit(sid, principal)
        connection = Connection(
            id=sid,
            principal=principal,
            limiter=TokenBucket(self.settings.rate_limit, self.settings.rate_burst),
            origin=environ.get("HTTP_ORIGIN"),
        )
        self.connections[sid] = connection
        return connection

    async def connected(self, connection: Connection) -> None:
        """A connection was accepted: subscribe its inbox, welcome it, deliver its queue, tell the plugins."""
        hub = self.hub
        await self.streams.follow_inbox(connection)
        hub.metrics.connections.set(len(self.connections))
        welcome = Envelope.build(connection.inbox, "hub.welcome", self._welcome(connection))
        await hub.send_here(connection.id, welcome.type, welcome.to_dict(), binary=False)
        # After the welcome, so a client always hears hello before hub.token_expiring.
        self._schedule_expiry(connection)
        # The offline queue: whatever reached the inbox and was not acknowledged.
        await self.streams.catch_up(connection, connection.inbox, await hub.log.pending(connection.user))
        await settle(hub.pm.hook.hub_connect(hub=hub, connection=connection))

    def _welcome(self, connection: Connection) -> dict[str, Any]:
        principal = connection.principal
        return {
            "user": principal.user,
            "roles": list(principal.roles),
            "name": principal.name,
            "connection_id": connection.id,
            "server_time": utc_timestamp(),
            "token_expires_at": _iso(principal.expires_at),
            "protocol": 1,
            "plugins": self.hub.plugins,
        }

    async def disconnected(self, sid: str, reason: str = "lost") -> None:
        connection = self.connections.pop(sid, None)
        if connection is None:
            return
        connection.disconnect_reason = reason
        self.per_user.release(sid)
        self.hub.metrics.disconnects.labels(reason).inc()
        self._cancel_expiry(sid)
        self.hub.metrics.connections.set(len(self.connections))
        await settle(self.hub.pm.hook.hub_disconnect(hub=self.hub, connection=connection))

    def refresh(self, connection: Connection, principal: Principal) -> None:
        """A refreshed token: the connection's new principal, and its expiry scheduled again."""
        connection.principal = principal
        self._schedule_expiry(connection)

    def stop(self) -> None:
        for handle in self._expiry.values():
            handle.cancel()
        self._expiry.clear()

    # Token expiry -------------------------------------------------------------

    def _schedule_expiry(self, connection: Connection) -> None:
        """Warn before ``exp``, and close the connection once the token has expired.

        Expired means what the verifier means: past ``exp`` plus the leeway.
        Closing at ``exp`` itself would drop at once a connection accepted within
        the leeway (before it could refresh), and a client reconnecting with the
        same token would be accepted and dropped again, in a loop.
        A refresh schedules again, replacing the pending step.
        """
        expires_at = connection.principal.expires_at
        self._arm_expiry(connection, expires_at - self.settings.token_expiring_notice, self._expiry_notice)

    def _cancel_expiry(self, sid: str) -> None:
        handle = self._expiry.pop(sid, None)
        if handle is not None:
            handle.cancel()

    def _arm_expiry(self, connection: Connection, when: float, step: Any) -> None:
        self._cancel_expiry(connection.id)
        delay = max(0.0, when - time.time())
        self._expiry[connection.id] = asyncio.get_running_loop().call_later(
            delay, self._expiry_due, connection, step, connection.principal.expires_at, context=_TIMER_CONTEXT
        )

    def _expiry_due(self, connection: Connection, step: Any, expires_at: float) -> None:
        if self.connections.get(connection.id) is not connection:
            return
        handle = self._expiry.get(connection.id)
        self.hub.start_task(step(connection, expires_at, handle), name=f"expiry-{connection.id}")

    def _still_armed(self, connection: Connection, handle: asyncio.TimerHandle | None) -> bool:
        """No refresh or disconnection replaced this step while it was running."""
        return self.connections.get(connection.id) is connection and self._expiry.get(connection.id) is handle

    async def _expiry_notice(self, connection: Connection, expires_at: float, handle: asyncio.TimerHandle | None) -> None:
        await self.hub.send(
            connection.id,
            Envelope.build(connection.inbox, "hub.token_expiring", {"expires_at": _iso(expires_at)}),
        )
        if self._still_armed(connection, handle):
            self._arm_expiry(connection, expires_at + self.settings.jwt_leeway, self._expiry_close)

    async def _expiry_close(self, connection: Connection, expires_at: float, handle: asyncio.TimerHandle | None) -> None:
        await self.hub.send(connection.id, Envelope.build(connection.inbox, "hub.error", AuthExpired().to_wire()))
        if self._still_armed(connection, handle):
            self._expiry.pop(connection.id, None)
            await self.hub.sio.disconnect(connection.id)


#: The context the expiry timers run in. A timer keeps the context it was made in for as long
#: as it waits (hours): by default that of the task that handled the connect, with whatever
#: that task had set (the request's size, python-socketio's) alive per idle connection. The
#: expiry steps read no context variable; the timers run one at a time, so one context serves all.
_TIMER_CONTEXT = contextvars.Context()


def _iso(timestamp: float) -> str:
    return utc_timestamp(datetime.fromtimestamp(timestamp, timezone.utc))


__all__ = ["Sessions"]
