"""Local delivery: how an event published to a topic reaches this process's subscribers.

python-socketio's managers end every emit, local or arriving from the Redis
broker, in ``AsyncManager.emit``; :class:`LocalDelivery` replaces that step.
It encodes each event once and writes it to every recipient without a task
per recipient, and it keeps durable topics exact per connection: an event
whose ``seq`` the connection already has is dropped, and events that arrive
while the connection is catching up on a backlog wait until the backlog is out.

On a websocket, the event's frame is built once and written straight to each
recipient's transport (:mod:`hub.fastpath`, engaged through
:mod:`hub._compat.fastpath` when its check passed); long-polling and anything
else take python-engineio's queue (its public ``send_packet``). Either way a recipient that stops reading is
disconnected once what waits for it passes a limit (the slow-consumer policy:
``HUB_SLOW_CONSUMER_BYTES`` on a websocket, ``HUB_SLOW_CONSUMER_PACKETS``
queued otherwise), so the others never wait for it.

The manager is also where a connection's welcome is sent from: python-socketio
calls its public ``connect`` once the CONNECT packet is queued, so the welcome
cannot overtake it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import socketio
from engineio import packet as eio_packet
from socketio import packet

from . import fastpath
from ._compat import engineio as compat_engineio
from ._compat.fastpath import SLOW_CONSUMER, FastWriter, install, writer_of
from ._compat.heartbeat import set_close_reason
from ._compat.rooms import RoomIndex
from .envelope import Envelope
from .streams import admit_live
from .views import SAME, Form, view_of, wire_form

if TYPE_CHECKING:
    from .topics import TopicKind
    from .types import CoreHub as Hub


def encode_event(
    server: Any, event: str, payload: Any, namespace: str = "/", binary: bool | None = None,
) -> list[eio_packet.Packet]:
    """The Engine.IO packets of one Socket.IO event, encoded once for any number of recipients.

    ``binary=False`` says the payload holds no bytes, sparing python-socketio's walk through it.
    """
    pkt = server.packet_class(packet.EVENT, namespace=namespace, data=[event, payload], binary=binary)
    encoded = pkt.encode()
    if not isinstance(encoded, list):
        encoded = [encoded]
    return [eio_packet.Packet(eio_packet.MESSAGE, part) for part in encoded]


def _own_binary_packets(packets: list[eio_packet.Packet]) -> list[eio_packet.Packet]:
    """``packets`` with fresh attachment packets: python-engineio caches a packet's encoding, and an
    attachment is encoded differently for long-polling (base64) and a websocket (raw bytes)."""
    return [packets[0], *(eio_packet.Packet(eio_packet.MESSAGE, pkt.data) for pkt in packets[1:])]


logger = logging.getLogger("hub.delivery")
DEFAULT_SLOW_CONSUMER_BYTES = 4 * 1024 * 1024
DEFAULT_SLOW_CONSUMER_PACKETS = 10_000


class LocalDelivery(RoomIndex, socketio.AsyncManager):  # type: ignore[misc]
    """The last step of every emit in this process, gated per connection for durable topics."""

    hub: Hub | None = None
    #: The websocket fast path's flusher, told when each event has been queued.
    flusher: fastpath.Flusher | None = None

    #: Whether a session's queued packets can be counted (``polling_slow_consumer_limit``).
    queue_limit = False

    @functools.cached_property
    def turn(self) -> fastpath.Turn:
        return fastpath.Turn()

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        settings = self.hub.settings if self.hub is not None else None
        limit = settings.slow_consumer_bytes if settings is not None else DEFAULT_SLOW_CONSUMER_BYTES
        compat = getattr(server, "compat", None)
        if compat is not None:
            self.flusher = install(server.eio, compat, limit, self._slow_websocket)
            self.queue_limit = compat.enabled(compat_engineio.SESSION_QUEUE)
            self.use_room_index(compat)

    async def connect(self, sid: str, namespace: str) -> Any:
        """Mark ``sid`` connected, then give the hub's connection its welcome and offline queue."""
        sid = await super().connect(sid, namespace)
        hub = self.hub
        connection = hub.connections.get(sid) if hub is not None else None
        if hub is None or connection is None or not self.is_connected(sid, namespace):
            return sid
        try:
            await hub.connected(connection)
        except Exception:
            # Without its welcome and offline queue the connection would look fine while
            # missing events: close it, so the client reconnects and gets them next time.
            logger.exception("after-connect of %s failed; disconnecting it", sid)
            await self.server.disconnect(sid)
        return sid

    async def send_here(self, sid: str, event: str, data: dict[str, Any], binary: bool | None = None) -> None:
        """One event to one connection of this process, written like any other (fast path or queue).

        For what only a connection here can be sent, and before anything else is
        on its way to it: a new connection's welcome. It skips what an emit
        needs for many recipients or another process: python-socketio's emit, the
        room, the turn (see :class:`~hub.fastpath.Turn`: nothing waits behind a
        single write) and, on Redis, the broker's round trip.
        """
        eio_sid = self.eio_sid_from_sid(sid, "/")
        if eio_sid is None:
            return
        started_at = asyncio.get_running_loop().time()
        packets, frame = self._encode(event, data, "/", binary)
        writer = writer_of(self.server.eio, eio_sid) if frame is not None else None
        if writer is not None:
            assert frame is not None
            writer.push(frame)
            self._delivered(frame, started_at, 1, 0, data)
            return
        await self.write(eio_sid, _own_binary_packets(packets) if len(packets) > 1 else packets)
        self._delivered(None, started_at, 1, 1, data)

    async def emit(
        self, event: str, data: Any, namespace: str, room: Any = None, skip_sid: Any = None,
        callback: Any = None, to: Any = None, **kwargs: Any,
    ) -> None:
        # One fan-out at a time: a burst of them would starve the loop (see fastpath.Turn).
        await self.turn.run(lambda: self._emit(event, data, namespace, room, skip_sid, callback, to, **kwargs))

    async def _emit(
        self, event: str, data: Any, namespace: str, room: Any, skip_sid: Any, callback: Any, to: Any, **kwargs: Any,
    ) -> None:
        room = to or room
        if callback is not None or self.hub is None or not isinstance(data, dict):
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs)
            return
        namespace = namespace or "/"
        if namespace not in self.rooms:
            return
        skip = set(skip_sid if isinstance(skip_sid, list) else [skip_sid])
        seq = data.get("seq")
        topic = data.get("topic")
        # A durable event sent to its own topic is gated per connection (seq cursors).
        gated_topic: str | None = None
        gated_seq = 0
        if isinstance(topic, str) and room == topic:
            kind = self.hub.topics.kind_of(topic)
            if kind is not None and kind.view is not None:
                await self._emit_viewed(kind, data, namespace, room, skip, seq if isinstance(seq, int) else None)
                return
            if isinstance(seq, int):
                gated_topic, gated_seq = topic, seq
        packets, frame = self._encode(event, data, namespace)
        binary = len(packets) > 1
        started_at = asyncio.get_running_loop().time() if frame is not None else 0.0
        eio = self.server.eio
        connections = self.hub.connections
        delivered = queued = 0
        # get_participants iterates over a copy, so awaiting a write inside the loop is safe.
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            if gated_topic is not None:
                connection = connections.get(sid)
                if connection is not None and not admit_live(connection, gated_topic, gated_seq, data, self.hub):
                    continue
            if frame is not None:
                writer = writer_of(eio, eio_sid)
                if writer is not None:
                    writer.push(frame)
                    delivered += 1
                    continue
            await self.write(eio_sid, _own_binary_packets(packets) if binary else packets)
            delivered += 1
            queued += 1
        self._delivered(frame, started_at, delivered, queued, data)

    async def _emit_viewed(
        self, kind: TopicKind, data: dict[str, Any], namespace: str, room: str, skip: set[Any], seq: int | None,
    ) -> None:
        """An event of a kind with a view: each recipient gets its form, each distinct form encoded once."""
        assert self.hub is not None
        started_at = asyncio.get_running_loop().time()
        envelope = Envelope.from_dict(data)
        eio = self.server.eio
        connections = self.hub.connections
        # The encoded forms of this event, by form key (SAME: the event as published).
        encoded: dict[Any, tuple[list[eio_packet.Packet], bytes | None] | None] = {}
        any_frame = False
        delivered = queued = 0
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            connection = connections.get(sid)
            if connection is None:
                continue
            if seq is not None and not admit_live(connection, room, seq, data, self.hub):
                continue  # held raw while catching up: the backlog's view renders it
            result = view_of(kind, connection.views.get(room), envelope)
            if result is None:
                continue
            form_key: Any = result.key if isinstance(result, Form) else SAME
            if form_key not in encoded:
                wire = wire_form(data, result) if isinstance(result, Form) else data
                encoded[form_key] = None if wire is None else self._encode(wire["type"], wire, namespace)
            form = encoded[form_key]
            if form is None:
                continue
            packets, frame = form
            if frame is not None:
                any_frame = True
                writer = writer_of(eio, eio_sid)
                if writer is not None:
                    writer.push(frame)
                    delivered += 1
                    continue
            await self.write(eio_sid, _own_binary_packets(packets) if len(packets) > 1 else packets)
            delivered += 1
            queued += 1
        self._delivered(b"" if any_frame else None, started_at, delivered, queued, data)

    def _encode(
        self, event: str, data: dict[str, Any], namespace: str, binary: bool | None = None,
    ) -> tuple[list[eio_packet.Packet], bytes | None]:
        """The event's Engine.IO packets and, with the fast path on, its websocket frames: built once."""
        packets = encode_event(self.server, event, data, namespace, binary)
        if self.hub is not None:
            self.hub.metrics.encodings.inc()
        if self.flusher is None:
            return packets, None
        # The same bytes for every websocket recipient: the text frame, then one
        # binary frame per attachment (a binary event), as python-engineio writes them.
        frames = [
            fastpath.text_frame(encoded.encode()) if isinstance(encoded := pkt.encode(), str)
            else fastpath.binary_frame(encoded)
            for pkt in packets
        ]
        return packets, frames[0] if len(frames) == 1 else b"".join(frames)

    def _delivered(self, frame: bytes | None, started_at: float, delivered: int, queued: int, data: Any) -> None:
        if frame is not None and self.flusher is not None:
            self.flusher.event(started_at)
        if delivered and self.hub is not None:
            # The admin console's deliveries/s.
            self.hub.metrics.deliveries.inc(delivered)
            self.hub.metrics.delivered(data, delivered, self.flusher if frame is not None else None)
            if delivered > queued:
                self.hub.metrics.fastpath_deliveries.inc(delivered - queued)

    async def write(self, eio_sid: str, packets: Iterable[eio_packet.Packet]) -> None:
        """The normal path: python-engineio's queue for this session, bounded."""
        eio = self.server.eio
        if self.queue_limit:
            waiting = compat_engineio.queued_packets(eio, eio_sid)
            if waiting > self._packet_limit():
                # A client that does not read what is queued for it (long-polling, or a
                # websocket whose writer cannot write): drop it rather than keep growing.
                self._count_slow()
                logger.info("disconnecting slow consumer %s (%d packets queued)", eio_sid, waiting)
                set_close_reason(eio, eio_sid, SLOW_CONSUMER)
                await eio.disconnect(eio_sid)
                return
        for pkt in packets:
            await eio.send_packet(eio_sid, pkt)

    def _packet_limit(self) -> int:
        return self.hub.settings.slow_consumer_packets if self.hub is not None else DEFAULT_SLOW_CONSUMER_PACKETS

    def _count_slow(self) -> None:
        if self.hub is not None:
            self.hub.metrics.slow_consumers.inc()

    def _slow_websocket(self, writer: FastWriter) -> None:
        """A websocket's unsent bytes passed the limit: abort it; its session ends as a lost connection."""
        self._count_slow()
        logger.info("disconnecting slow consumer %s", writer.describe())
        writer.abort()



class HubManager(LocalDelivery):
    """The single-process manager: rooms in memory, delivery through :class:`LocalDelivery`."""
