"""uvicorn's websocket protocol, lighter per connection (optimisation ``light_ws_protocol``).

uvicorn's sans-I/O websocket protocol (``websockets-sansio``) keeps, for each
connection's whole life, an ``asyncio.Queue`` of received messages (four
deques and an event, about 3 KB, for a queue that is nearly always empty) and
the parsed handshake request and response with their headers (about 4 KB),
which nothing reads once the connection is accepted.
:class:`HubWebSocketProtocol` uses :class:`hub.eio.LightQueue` and lets the
handshake go after the accept. Nothing on the wire changes.

Both are uvicorn's private attributes (``queue``, ``request``, ``response``,
``handshake_complete``); :func:`check` looks for them in the protocol's code
at start-up, and :func:`websocket_protocol` gives ``hub serve`` uvicorn's own
choice (``"auto"``) when they are gone.
"""

from __future__ import annotations

from typing import Any

from ..eio import LightQueue
from .checks import attribute, method, uses

NAME = "light_ws_protocol"
MODULE = "uvicorn.protocols.websockets.websockets_sansio_impl"


def _base() -> Any:
    import importlib

    return attribute(importlib.import_module(MODULE), "WebSocketsSansIOProtocol", MODULE)


def check() -> None:
    """What :class:`HubWebSocketProtocol` relies on."""
    base = _base()
    where = f"{MODULE}.WebSocketsSansIOProtocol"
    uses(base.__init__, ["queue", "handshake_complete"], f"{where}.__init__")
    uses(base.handle_connect, ["request", "response"], f"{where}.handle_connect")
    uses(base.receive, ["queue"], f"{where}.receive")
    method(base, "send", where, ("message",), coroutine=True)


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

            async def send(self, message: Any) -> None:
                await super().send(message)
                if message.get("type") == "websocket.accept" and self.handshake_complete:
                    # Sent: the parsed request and response are never read again.
                    self.request = None
                    self.response = None

        _protocol = HubWebSocketProtocol
    return _protocol


_protocol: type | None = None


def websocket_protocol(enabled: bool) -> type | str:
    """The ``ws`` argument of ``uvicorn.run``: the light protocol, or uvicorn's own choice."""
    return protocol_class() if enabled else "auto"
