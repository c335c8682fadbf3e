"""The Socket.IO side: handshakes, requests and disconnections, wired to the Hub.

``HubSocketServer`` is python-socketio's ``AsyncServer`` on its public API:
every client event goes to the hub's request dispatcher through a catch-all
handler, and :class:`HubPacket` (the ``serializer=``) measures the raw size of
each packet before it is decoded and tells whether the client asked for an
acknowledgement (a failing request without one gets ``hub.error``). What leans
on python-socketio's internals (the lighter Engine.IO server) is in
:mod:`hub._compat`, checked when the server is built.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Mapping
from typing import Any

import socketio

from . import jsoncodec
from ._compat import check_internals
from ._compat.engineio import TRIMMED_ENVIRON, CompatServer, trim_environ
from ._compat.heartbeat import close_reason
from .config import Settings
from .delivery import HubManager
from .envelope import Envelope
from .errors import HubError, InternalError
from .types import CoreHub as Hub

logger = logging.getLogger("hub.server")
#: (raw size, acknowledgement asked) of the packet being handled.
_received: contextvars.ContextVar[tuple[int, bool]] = contextvars.ContextVar("hub_received", default=(0, True))


class HandshakeRefused(socketio.exceptions.ConnectionRefusedError):  # type: ignore[misc]
    """Refuses a connection with the contract's ``{"code", "message"}`` as ``connect_error`` data."""

    def __init__(self, error: HubError) -> None:
        super().__init__(error.message)
        wire = error.to_wire()
        # socket.io-client (JavaScript) exposes the packet's "data" member as the
        # error's `data`; python-socketio passes the whole packet. Both see code and message.
        self.error_args = {**wire, "data": wire}


class HubPacket(socketio.packet.Packet):  # type: ignore[misc]
    """python-socketio's packet, noting the raw size of each received packet before it is decoded.

    A packet class is python-socketio's public ``serializer=`` option. The size
    (and whether the client asked for an acknowledgement) is kept in a context
    variable: python-socketio starts the task that handles an event right after
    decoding it, and the task inherits the variable.
    """

    def decode(self, encoded_packet: Any) -> Any:
        self.raw_size = len(encoded_packet) if isinstance(encoded_packet, (str, bytes)) else 0
        count = super().decode(encoded_packet)
        _received.set((self.raw_size, self.id is not None))
        return count

    def add_attachment(self, attachment: Any) -> Any:
        # A binary event's size counts its attachments (handled once the last one arrives).
        self.raw_size = getattr(self, "raw_size", 0) + (len(attachment) if isinstance(attachment, bytes) else 0)
        _received.set((self.raw_size, self.id is not None))
        return super().add_attachment(attachment)


class HubSocketServer(CompatServer):
    """python-socketio's server, dispatching every client event to the hub.

    Every event reaches :meth:`_on_request` (a catch-all ``on("*")`` handler);
    its return value is the acknowledgement. The welcome of a connection is
    sent by the manager (:meth:`hub.delivery.LocalDelivery.connect`), once the
    CONNECT packet is queued.
    """

    def __init__(self, hub: Hub, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hub = hub
        self.on("connect", self._on_connect)
        self.on("disconnect", self._on_disconnect)
        self.on("*", self._on_request)
        # ``labels()`` costs more than the increment: the child of every accepted connect, once.
        self._connects_ok = hub.metrics.connects.labels("ok")

    async def _on_connect(self, sid: str, environ: Mapping[str, Any], auth: Any = None) -> None:
        try:
            self.hub.admit(sid, environ, auth)
        except HubError as error:
            self.hub.metrics.connects.labels(error.code).inc()
            raise HandshakeRefused(error) from None
        except Exception:
            logger.exception("handshake failed")
            raise HandshakeRefused(InternalError()) from None
        self._connects_ok.inc()
        if self.compat.enabled(TRIMMED_ENVIRON):
            trim_environ(self, sid, environ)

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        eio_sid = self.manager.eio_sid_from_sid(sid, "/")
        closed_by_hub = close_reason(self.eio, eio_sid) if eio_sid is not None else None
        await self.hub.disconnected(sid, closed_by_hub or _reason(reason))

    async def _on_request(self, event: str, sid: str, *args: Any) -> Any:
        connection = self.hub.connections.get(sid)
        if connection is None:
            return None
        size, wants_ack = _received.get()
        reply, after_reply = await self.hub.dispatcher.dispatch(connection, event, list(args), size)
        if not wants_ack and not reply["ok"]:
            error = dict(reply["error"], request=str(event)[:64])
            await self.hub.send(sid, Envelope.build(connection.inbox, "hub.error", error))
        if after_reply:
            # python-socketio queues the acknowledgement as soon as this returns, before
            # the loop runs another task: what follows the reply starts after it.
            self.hub.start_task(_run_all(after_reply), name=f"after-{event}")
        return reply


async def _run_all(actions: list[Any]) -> None:
    for action in actions:
        await action()


def _reason(reason: Any) -> str:
    """python-socketio's disconnect reason, as ``client``, ``server``, ``ping_timeout`` or ``lost``.

    (The reasons the hub sets itself, ``slow_consumer`` and ``protocol_error``,
    come from :func:`hub._compat.heartbeat.close_reason`.)
    """
    reasons = socketio.AsyncServer.reason
    if reason == reasons.CLIENT_DISCONNECT:
        return "client"
    if reason == reasons.SERVER_DISCONNECT:
        return "server"
    if reason == reasons.PING_TIMEOUT:
        return "ping_timeout"
    return "lost"


def build_socket_server(hub: Hub, settings: Settings, cors: Any) -> HubSocketServer:
    """The socket server of ``hub``, configured from ``settings``.

    Its manager is :class:`HubManager` on one process, or the Redis manager of
    :mod:`hub.broker` when ``HUB_REDIS_URL`` is set.
    """
    from .broker import build_manager

    compat = check_internals(hub.metrics.optimisations)
    manager = build_manager(hub, settings, compat)
    return HubSocketServer(
        hub,
        compat=compat,
        client_manager=manager,
        serializer=HubPacket,
        async_mode="asgi",
        json=jsoncodec,
        cors_allowed_origins=cors,
        # Bigger than the hub's own limit, so an oversized request gets `too_large`
        # instead of a dropped connection; past this, Engine.IO closes it.
        max_http_buffer_size=max(1_000_000, settings.max_message_bytes * 4),
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        transports=["polling", "websocket"],
        logger=False,
        engineio_logger=False,
    )


OriginCheck = Callable[[str, Mapping[str, Any]], bool]
