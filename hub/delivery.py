"""Local delivery: how an event published to a topic reaches this process's subscribers.

python-socketio's managers end every emit, local or arriving from the Redis
broker, in ``AsyncManager.emit``; :class:`LocalDelivery` replaces that step.
It encodes each event once and writes it to every recipient without a task
per recipient, and it keeps durable topics exact per connection: an event
whose ``seq`` the connection already has is dropped, and events that arrive
while the connection is catching up on a backlog wait until the backlog is out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import socketio
from engineio import packet as eio_packet
from socketio import packet

if TYPE_CHECKING:
    from .connection import Connection
    from .hub import Hub


def encode_event(server: Any, event: str, payload: Any, namespace: str = "/") -> list[eio_packet.Packet]:
    """The Engine.IO packets of one Socket.IO event, encoded once for any number of recipients."""
    pkt = server.packet_class(packet.EVENT, namespace=namespace, data=[event, payload])
    encoded = pkt.encode()
    if not isinstance(encoded, list):
        encoded = [encoded]
    return [eio_packet.Packet(eio_packet.MESSAGE, part) for part in encoded]


class LocalDelivery(socketio.AsyncManager):  # type: ignore[misc]
    """The last step of every emit in this process, gated per connection for durable topics."""

    hub: Hub | None = None

    async def emit(
        self, event: str, data: Any, namespace: str, room: Any = None, skip_sid: Any = None,
        callback: Any = None, to: Any = None, **kwargs: Any,
    ) -> None:
        room = to or room
        if callback is not None or self.hub is None or not isinstance(data, dict):
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs)
            return
        namespace = namespace or "/"
        if namespace not in self.rooms:
            return
        skip = set(skip_sid if isinstance(skip_sid, list) else [skip_sid])
        packets = encode_event(self.server, event, data, namespace)
        seq = data.get("seq")
        topic = data.get("topic")
        gated = isinstance(seq, int) and isinstance(topic, str) and room == topic
        for sid, eio_sid in list(self.get_participants(namespace, room)):
            if sid in skip:
                continue
            if gated:
                assert isinstance(topic, str) and isinstance(seq, int)
                connection = self.hub.connections.get(sid)
                if connection is not None and not admit_live(connection, topic, seq, data):
                    continue
            await self.write(eio_sid, packets)

    async def write(self, eio_sid: str, packets: Iterable[eio_packet.Packet]) -> None:
        for pkt in packets:
            try:
                await self.server._send_eio_packet(eio_sid, pkt)
            except KeyError:
                # The connection closed while we were writing; nothing to do.
                return


def admit_live(connection: Connection, topic: str, seq: int, data: dict[str, Any]) -> bool:
    """Whether a live durable event goes out now; held or dropped otherwise."""
    held = connection.catching_up.get(topic)
    if held is not None:
        held.append(data)
        return False
    if seq <= connection.cursors.get(topic, 0):
        return False
    connection.cursors[topic] = seq
    return True
