"""The Socket.IO side: handshakes, requests and disconnections, wired to the Hub.

``HubSocketServer`` is python-socketio's ``AsyncServer`` with two changes:
every client event goes to the hub's request dispatcher (which shapes the
acknowledgement itself, so it knows whether the client asked for one), and
the raw size of each packet is measured before it is decoded.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Mapping
from typing import Any

import socketio
from socketio import packet

from . import jsoncodec
from .config import Settings
from .delivery import HubManager
from .eio import HubEngineIOServer
from .envelope import Envelope
from .errors import HubError, InternalError
from .types import CoreHub as Hub

logger = logging.getLogger("hub.server")
_packet_size: contextvars.ContextVar[int] = contextvars.ContextVar("hub_packet_size", default=0)


class HandshakeRefused(socketio.exceptions.ConnectionRefusedError):  # type: ignore[misc]
    """Refuses a connection with the contract's ``{"code", "message"}`` as ``connect_error`` data."""

    def __init__(self, error: HubError) -> None:
        super().__init__(error.message)
        wire = error.to_wire()
        # socket.io-client (JavaScript) exposes the packet's "data" member as the
        # error's `data`; python-socketio passes the whole packet. Both see code and message.
        self.error_args = {**wire, "data": wire}


class HubSocketServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server, dispatching every client event to the hub."""

    def __init__(self, hub: Hub, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hub = hub
        self._accepted: dict[str, str] = {}
        self.on("connect", self._on_connect)
        self.on("disconnect", self._on_disconnect)

    def _engineio_server_class(self) -> type:
        # Lighter per connection than python-engineio's own (see hub.eio).
        return HubEngineIOServer

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        token = _packet_size.set(len(data) if isinstance(data, (str, bytes)) else 0)
        try:
            await super()._handle_eio_message(eio_sid, data)
        except ValueError:
            # An undecodable packet: drop it, keep the connection and everyone else.
            logger.info("dropped a malformed packet from %s", eio_sid)
        finally:
            _packet_size.reset(token)

    async def _on_connect(self, sid: str, environ: Mapping[str, Any], auth: Any = None) -> None:
        try:
            self.hub.admit(sid, environ, auth)
        except HubError as error:
            self.hub.metrics.connects.labels(error.code).inc()
            raise HandshakeRefused(error) from None
        except Exception:
            logger.exception("handshake failed")
            raise HandshakeRefused(InternalError()) from None
        self._accepted[sid] = sid
        self.hub.metrics.connects.labels("ok").inc()

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        before = set(self._accepted)
        await super()._handle_connect(eio_sid, namespace, data)
        # The CONNECT packet has now been sent, so the welcome cannot overtake it.
        for sid in set(self._accepted) - before:
            self._accepted.pop(sid, None)
            if sid in self.hub.connections and self.manager.is_connected(sid, namespace or "/"):
                try:
                    await self.hub.connected(self.hub.connections[sid])
                except Exception:
                    # Without its welcome and offline queue the connection would look
                    # fine while missing events: close it, so the client reconnects and
                    # gets them on the next try.
                    logger.exception("after-connect of %s failed; disconnecting it", sid)
                    await self.disconnect(sid)

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        self._accepted.pop(sid, None)
        await self.hub.disconnected(sid, _reason(reason))

    async def _handle_event_internal(
        self, server: Any, sid: str, eio_sid: str, data: list[Any], namespace: str, id: int | None
    ) -> None:
        connection = self.hub.connections.get(sid)
        if connection is None or not data:
            return
        reply, after_reply = await self.hub.dispatcher.dispatch(connection, data[0], data[1:], _packet_size.get())
        if id is not None:
            await server._send_packet(eio_sid, self.packet_class(packet.ACK, namespace=namespace, id=id, data=[reply]))
        elif not reply["ok"]:
            error = dict(reply["error"], request=str(data[0])[:64])
            await self.hub.send(sid, Envelope.build(connection.inbox, "hub.error", error))
        for action in after_reply:
            await action()


def _reason(reason: Any) -> str:
    """python-socketio's disconnect reason, as ``client``, ``server`` or ``lost``."""
    reasons = socketio.AsyncServer.reason
    if reason == reasons.CLIENT_DISCONNECT:
        return "client"
    if reason == reasons.SERVER_DISCONNECT:
        return "server"
    return "lost"


def build_socket_server(hub: Hub, settings: Settings, cors: Any) -> HubSocketServer:
    """The socket server of ``hub``, configured from ``settings``.

    Its manager is :class:`HubManager` on one process, or the Redis manager of
    :mod:`hub.broker` when ``HUB_REDIS_URL`` is set.
    """
    from .broker import build_manager

    manager = build_manager(hub, settings)
    return HubSocketServer(
        hub,
        client_manager=manager,
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
