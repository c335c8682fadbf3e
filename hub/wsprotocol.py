"""uvicorn's websocket protocol, lighter per connection.

uvicorn's sans-I/O websocket protocol (``websockets-sansio``, its default with
the ``websockets`` package) keeps, for each connection's whole life, an
``asyncio.Queue`` of received messages (four deques and an event, about 3 KB,
for a queue that is nearly always empty) and the parsed handshake request and
response with their headers (about 4 KB), which nothing reads once the
connection is accepted. :class:`HubWebSocketProtocol` uses
:class:`hub.eio.LightQueue` and lets the handshake go after the accept.
Nothing on the wire changes.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from .eio import LightQueue


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol with a lazily allocated receive queue."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue: Any = LightQueue()

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message.get("type") == "websocket.accept" and self.handshake_complete:
            # Sent: the parsed request and response are never read again.
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]
