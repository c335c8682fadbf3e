"""Each connection's streams: subscriptions, durable cursors, catch-up and live gating.

This module is the only writer of ``Connection.cursors`` (the highest durable
``seq`` sent on each topic) and ``Connection.catching_up`` (live events held
while a backlog is being sent). Delivery asks :func:`admit_live` about each live
durable event; the broker's recovery after an outage is :meth:`Streams.recover`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .connection import Subscription
from .errors import Forbidden, HubError
from .hookcalls import settle
from .limits import check_subscription_cap
from .views import has_views, parse_params, render

if TYPE_CHECKING:
    from .connection import Connection
    from .types import ClientRequest, CoreHub

log = logging.getLogger("hub.streams")

#: Seconds a connection holds a topic's live events after a gap before the log is read.
GAP_WAIT = 0.05


def admit_live(
    connection: Connection, topic: str, seq: int, data: dict[str, Any], gaps: CoreHub | None = None,
) -> bool:
    """Whether a live durable event goes out now; held or dropped otherwise (once per recipient).

    With ``gaps``, an event that comes after a gap (seq 5 while the connection's
    cursor is 3) is held and the gap filled from the log: another process
    published seq 4 and its emit is still on its way through the broker, or was
    lost. Without that, 5 would go out and 4, arriving next, be dropped as old.
    """
    held = connection.catching_up.get(topic)
    if held is not None:
        held.append(data)
        return False
    cursor = connection.cursors.get(topic)
    if cursor is not None:
        if seq <= cursor:
            return False
        # Inbox cursors follow what is still queued, not every seq: gaps there are normal,
        # and whatever is not acknowledged is sent again on the next connect anyway.
        if seq > cursor + 1 and gaps is not None and topic != connection.inbox:
            connection.catching_up[topic] = [data]
            gaps.fill_gap(connection, topic)
            return False
    connection.cursors[topic] = seq
    return True


class Streams:
    """Subscribing, unsubscribing and catching up, for every connection of one hub."""

    def __init__(self, hub: CoreHub) -> None:
        self.hub = hub
        #: Topic -> ids of the connections holding its live events until a gap is filled.
        self._gaps: dict[str, set[str]] = {}

    def fill_gap(self, connection: Connection, topic: str) -> None:
        """Fill ``connection``'s gap on ``topic`` from the log soon, with every other connection's."""
        waiting = self._gaps.setdefault(topic, set())
        if not waiting:
            self.hub.start_task(self._fill_gaps(topic), name=f"hub-fill-gap:{topic}")
        waiting.add(connection.id)

    async def _fill_gaps(self, topic: str) -> None:
        # A moment's wait lets every connection with the same gap share one read of the
        # log; the missing event, usually on its way, is then in the log already (a seq is
        # visible to a publisher only once committed, and each is committed in turn).
        await asyncio.sleep(GAP_WAIT)
        hub = self.hub
        waiting = [
            connection for sid in self._gaps.pop(topic, ())
            if (connection := hub.connections.get(sid)) is not None and topic in connection.catching_up
        ]
        if not waiting:
            return
        events: list[Any] = []
        read_up_to: int | None = None
        try:
            since = min(connection.cursors.get(topic, 0) for connection in waiting)
            backlog = await hub.log.backlog(topic, since)
            events, read_up_to = list(backlog.events), backlog.latest_seq
        except Exception:
            log.exception("could not read %s from the log to fill a gap; sending what arrived", topic)
        await self._send_missed(topic, waiting, events, read_up_to)

    async def _send_missed(
        self, topic: str, connections: list[Connection], events: list[Any], read_up_to: int | None = None
    ) -> int:
        """Catch each connection up with the ``events`` past its cursor on ``topic``; how many went out."""
        sent = 0
        for connection in connections:
            cursor = connection.cursors.get(topic, 0)
            missed = [event for event in events if (event.seq or 0) > cursor]
            sent += len(missed)
            await self.catch_up(connection, topic, missed, read_up_to)
        return sent

    async def follow_inbox(self, connection: Connection) -> None:
        """Join the connection's inbox, holding its live events until :meth:`catch_up` sends the queue."""
        inbox = connection.inbox
        # Live inbox events wait until the queued ones are out, so the user sees seq order.
        connection.catching_up[inbox] = []
        await self.hub.sio.enter_room(connection.id, inbox)
        connection.subscriptions.add(inbox)

    async def subscribe(self, request: ClientRequest, topic: str, since: int | None) -> dict[str, Any]:
        """Subscribe a connection (params validated, policies checked); the ``subscribe`` reply.

        The request's keys besides ``topic`` and ``since`` are the kind's
        parameters (:func:`hub.views.parse_params`). Subscribing again to a
        topic of a kind with params or a view replaces that connection's
        subscription, and the reply's ``replaced`` says so.
        """
        hub, connection = self.hub, request.connection
        kind, key = hub.topics.resolve(topic)
        check_subscription_cap(connection, topic, hub.settings)
        subscription = Subscription(connection, topic, key, parse_params(kind, request.payload))
        await hub.topics.check_subscription(kind, subscription)
        verdicts = await settle(hub.pm.hook.hub_authorize_subscribe(hub=hub, connection=connection, topic=topic))
        if any(verdict is False for verdict in verdicts):
            raise Forbidden(f"You may not subscribe to {topic}.")
        reply: dict[str, Any] = {"topic": topic, "seq": 0, "recovered": False}
        viewed = has_views(kind)
        previous = connection.views.get(topic)
        if viewed:
            # Before joining and before reading the log: live events and the backlog
            # alike go through the new view from here on.
            reply["replaced"] = topic in connection.subscriptions
            connection.views[topic] = subscription
        try:
            await self._join(request, kind.durable, kind.inbox, topic, since, reply)
            if kind.durable:
                # The snapshot must describe the topic as of the reply's seq (no gap, no repeat).
                subscription = replace(subscription, seq=reply["seq"], since=since, recovered=reply["recovered"])
                if viewed:
                    connection.views[topic] = subscription
            snapshot = await hub.topics.snapshot(kind, subscription)
            if snapshot is not None:
                reply["snapshot"] = snapshot
            await settle(hub.pm.hook.hub_subscribe(hub=hub, connection=connection, topic=topic))
        except BaseException:
            if since is not None:
                connection.catching_up.pop(topic, None)
            if viewed:
                # The view in force stays the one a completed subscribe set (none: nothing reaches it).
                if previous is not None:
                    connection.views[topic] = previous
                else:
                    connection.views.pop(topic, None)
            raise
        return reply

    async def _join(
        self, request: ClientRequest, durable: bool, inbox: bool, topic: str, since: int | None,
        reply: dict[str, Any],
    ) -> None:
        """Enter the topic's room; for ``since``, queue the backlog to follow the reply."""
        hub, connection = self.hub, request.connection
        if durable and since is not None:
            # Join first and hold live events, then read the log: every event is
            # either in the backlog or held (or both, and then sent once).
            connection.catching_up[topic] = []
            connection.cursors[topic] = since
            await hub.sio.enter_room(connection.id, topic)
            connection.subscriptions.add(topic)
            try:
                backlog = await hub.log.backlog(topic, since)
            except BaseException:
                connection.catching_up.pop(topic, None)
                raise
            if since > backlog.latest_seq:
                # The client saw more than this log holds (a restored or reset
                # database): it must resync, and later seqs must still reach it.
                connection.cursors[topic] = backlog.latest_seq
            reply.update(seq=backlog.latest_seq, recovered=backlog.complete and since <= backlog.latest_seq)
            events = list(backlog.events)

            async def send_backlog() -> None:
                await self.catch_up(connection, topic, events)

            request.then(send_backlog)
            return
        await hub.sio.enter_room(connection.id, topic)
        connection.subscriptions.add(topic)
        if durable:
            reply["seq"] = await hub.log.latest_seq(topic)
            if not inbox and topic not in connection.catching_up:
                # Only events newer than the reply's seq are news to this subscriber.
                connection.cursors[topic] = max(connection.cursors.get(topic, 0), reply["seq"])

    async def unsubscribe(self, connection: Connection, topic: str) -> None:
        hub = self.hub
        hub.topics.resolve(topic)
        if topic == connection.inbox:
            raise Forbidden("A connection always follows its own inbox.")
        await hub.sio.leave_room(connection.id, topic)
        connection.cursors.pop(topic, None)
        connection.catching_up.pop(topic, None)
        connection.views.pop(topic, None)
        if topic in connection.subscriptions:
            connection.subscriptions.discard(topic)
            await settle(hub.pm.hook.hub_unsubscribe(hub=hub, connection=connection, topic=topic))

    async def catch_up(self, connection: Connection, topic: str, backlog: Any, read_up_to: int | None = None) -> None:
        """Send ``backlog`` in order, then the live events held meanwhile, each once.

        With ``read_up_to`` (the latest seq when ``backlog`` was read), a held
        event after a seq above it, still on its way, is held again and the gap
        filled anew; a seq missing at or below it is gone from the log (retention),
        so what follows goes out.
        """
        connection.catching_up.setdefault(topic, [])
        refilling = False
        try:
            for event in backlog:
                await self._send_durable(connection, event.to_dict())
            while held := connection.catching_up[topic]:
                connection.catching_up[topic] = []
                held.sort(key=lambda item: item["seq"])
                for index, data in enumerate(held):
                    next_seq = connection.cursors.get(topic, 0) + 1
                    if read_up_to is not None and data["seq"] > next_seq > read_up_to:
                        connection.catching_up[topic] = held[index:] + connection.catching_up[topic]
                        refilling = True
                        self.fill_gap(connection, topic)
                        return
                    await self._send_durable(connection, data)
        finally:
            # No await between the last check and this: nothing can slip into the buffer unseen.
            if not refilling:
                connection.catching_up.pop(topic, None)
                if not connection.catching_up:
                    # A dict emptied keeps its table (184 bytes, not 64): every connection
                    # held its inbox here while its offline queue went out.
                    connection.catching_up = {}

    async def _send_durable(self, connection: Connection, data: dict[str, Any]) -> None:
        topic, seq = data["topic"], data["seq"]
        if seq <= connection.cursors.get(topic, 0):
            return
        # The cursor moves past an event the view skips too: `since` resumes after it.
        connection.cursors[topic] = seq
        kind = self.hub.topics.kind_of(topic)
        binary: bool | None = False  # a durable event is stored as JSON: it holds no bytes
        if kind is not None and kind.view is not None:
            viewed = render(kind, connection.views.get(topic), data)
            if viewed is None:
                return
            data, binary = viewed, None
        # The connection is this process's: written straight to it, in order (a reconnect
        # storm sends every queued event this way).
        await self.hub.send_here(connection.id, data["type"], data, binary)

    async def recover(self) -> int:
        """Send every local connection the durable events it missed on the topics it follows.

        Called after a broker outage. For each topic, live events are held first
        and the log read afterwards, so every event is in one or the other (or
        both, and then sent once). Inbox topics resend what is still queued
        (not acknowledged); other durable topics what follows each connection's
        last ``seq``. Returns how many events went out.
        """
        hub = self.hub
        followers: dict[str, list[Connection]] = {}
        for connection in list(hub.connections.values()):
            for topic in list(connection.subscriptions):
                followers.setdefault(topic, []).append(connection)
        sent = 0
        for topic, connections in followers.items():
            try:
                kind, key = hub.topics.resolve(topic)
            except HubError:
                continue
            if not kind.durable:
                continue
            # Leave alone any connection already sending this topic from the log (a subscribe with since).
            ready = [
                connection for connection in connections
                if connection.id in hub.connections and topic in connection.subscriptions
                and topic not in connection.catching_up and (kind.inbox or topic in connection.cursors)
            ]
            for connection in ready:
                connection.catching_up[topic] = []
            events: list[Any] = []
            try:
                if kind.inbox:
                    events = list(await hub.log.pending(key))
                elif ready:
                    since = min(connection.cursors.get(topic, 0) for connection in ready)
                    events = list((await hub.log.backlog(topic, since)).events)
            finally:
                # Even when reading failed, what was held meanwhile must go out.
                sent += await self._send_missed(topic, ready, events)
        return sent


__all__ = ["Streams", "admit_live"]
