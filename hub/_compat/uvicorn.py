"""uvicorn's websocket protocol, lighter per connection (optimisation ``light_ws_protocol``).

uvicorn's sans-I/O websocket protocol (``websockets-sansio``) keeps, for each
connection's whole life, an ``asyncio.Queue`` of received messages (four
deques and an event, about 3 KB, for a queue that is nearly always empty) and
the parsed handshake request and response with their headers (about 4 KB),
which nothing reads once the connection is accepted.
:class:`HubWebSocketProtocol` uses :class:`hub.eio.LightQueue` and lets the
handshake go after the accept (the request websockets' parser keeps, the
scope's headers), and its ``writable`` flag is a :class:`hub.eio.LightEvent`
(``asyncio.Event`` allocates a deque up front). Nothing on the wire changes.

Both are uvicorn's private attributes (``queue``, ``request``, ``response``,
``handshake_complete``); :func:`check` looks for them in the protocol's code
at start-up, and :func:`websocket_protocol` gives ``hub serve`` uvicorn's own
choice (``"auto"``) when they are gone.
"""

from __future__ import annotations

from typing import Any

from ..eio import LightEvent, LightQueue
from .checks import attribute, method, uses

NAME = "light_ws_protocol"
MODULE = "uvicorn.protocols.websockets.websockets_sansio_impl"


def _base() -> Any:
    import importlib

    return attribute(importlib.import_module(MODULE), "WebSocketsSansIOProtocol", MODULE)


def check() -> None:
    """What :class:`HubWebSocketProtocol` relies on."""
    import importlib

    base = _base()
    where = f"{MODULE}.WebSocketsSansIOProtocol"
    uses(base.__init__, ["queue", "handshake_complete"], f"{where}.__init__")
    uses(base.handle_connect, ["request", "response"], f"{where}.handle_connect")
    uses(base.receive, ["queue"], f"{where}.receive")
    method(base, "send", where, ("message",), coroutine=True)
    uses(base.__init__, ["writable", "conn"], f"{where}.__init__")
    uses(base.run_asgi, ["app", "scope", "receive", "send", "ClientDisconnected", "send_500_response",
                         "handshake_complete", "close_timer", "transport"], f"{where}.run_asgi")
    attribute(importlib.import_module("uvicorn.protocols.utils"), "ClientDisconnected", "uvicorn.protocols.utils")
    uses(base.send_receive_event_to_app, ["queue", "put_nowait"], f"{where}.send_receive_event_to_app")
    uses(base.connection_lost, ["queue", "put_nowait"], f"{where}.connection_lost")
    uses(base.receive, ["read_paused", "resume_reading", "transport"], f"{where}.receive")
    for name in ("pause_writing", "resume_writing", "connection_lost"):
        uses(getattr(base, name), ["writable"], f"{where}.{name}")
    uses(base.send, ["writable"], f"{where}.send")
    uses(base.handle_connect, ["scope", "headers"], f"{where}.handle_connect")
    from websockets import protocol, server

    method(protocol.Protocol, "parse", "websockets.protocol.Protocol")
    uses(protocol.Protocol.receive_data, ["reader", "parser"], "websockets.protocol.Protocol.receive_data")
    uses(server.ServerProtocol.parse, ["Request", "parse", "CONNECTING"], "websockets.server.ServerProtocol.parse")
    attribute(attribute(protocol, "StreamReader", "websockets.protocol")(), "buffer", "websockets StreamReader")


def _forget_handshake(protocol: Any) -> None:
    """Let go of what only the handshake needed, once the accept is sent.

    websockets' server parser is a generator that keeps the parsed request in
    its frame for the connection's life: it is replaced by the frame parser it
    was running (``Protocol.parse``), started afresh. Nothing of the next frame
    was read yet (a client sends none before the accept), which the check of
    the reader's buffer makes sure of. The scope's headers were translated for
    the application before the accept and are not read again.
    """
    from websockets.protocol import Protocol

    protocol.request = None
    protocol.response = None
    scope = getattr(protocol, "scope", None)
    if isinstance(scope, dict):
        scope["headers"] = []
    conn = protocol.conn
    if not conn.reader.buffer:
        conn.parser = Protocol.parse(conn)
        next(conn.parser)


def protocol_class() -> type:
    """:class:`HubWebSocketProtocol`, built on first use (uvicorn imports its protocols lazily too)."""
    global _protocol
    if _protocol is None:
        base = _base()

        class HubWebSocketProtocol(base):  # type: ignore[misc,valid-type]
            """uvicorn's ``websockets-sansio`` protocol with a lazily allocated receive queue."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.queue: Any = LightQueue()
                self.writable: Any = LightEvent()
                self.writable.set()

            #: Set by the application before it returns from a websocket it goes on serving
            #: without a task (see :func:`hub._compat.wsloop.serve`): the connection stays open.
            hub_detached = False

            def hub_detach(self) -> None:
                """The application returns now and takes what the connection receives from ``queue``."""
                self.hub_detached = True

            async def run_asgi(self) -> None:
                # uvicorn's run_asgi, leaving a detached connection open when the application returns.
                from uvicorn.protocols.utils import ClientDisconnected

                try:
                    result = await self.app(self.scope, self.receive, self.send)
                except ClientDisconnected:
                    pass
                except BaseException:
                    self.logger.exception("Exception in ASGI application\n")
                    self.send_500_response()
                else:
                    if not self.handshake_complete:
                        self.logger.error("ASGI callable returned without completing handshake.")
                        self.send_500_response()
                    elif result is not None:
                        self.logger.error("ASGI callable should return None, but returned '%s'.", result)
                if self.close_timer is None and not self.hub_detached:
                    self.transport.close()

            async def send(self, message: Any) -> None:
                await super().send(message)
                if message.get("type") == "websocket.accept" and self.handshake_complete:
                    _forget_handshake(self)

        _protocol = HubWebSocketProtocol
    return _protocol


_protocol: type | None = None


def websocket_protocol(enabled: bool) -> type | str:
    """The ``ws`` argument of ``uvicorn.run``: the light protocol, or uvicorn's own choice."""
    return protocol_class() if enabled else "auto"
