"""The Hub: the object the core and every plugin work through.

It owns the topic registry, the event log, the connections and the socket
server, and it is the one path by which events leave the hub
(:meth:`Hub.publish` and :meth:`Hub.send`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pluggy

from .auth import Principal, TokenVerifier, bearer_token, token_from_handshake
from .broker import Broker, instance_name
from .config import Settings
from .connection import Connection
from .envelope import Envelope, utc_timestamp
from .errors import AuthExpired, Forbidden, HubError, Unavailable
from .eventlog import EventLog
from .metrics import HubMetrics
from .plugins import PluginError, acall_each, call_each, plugin_names
from .ratelimit import TokenBucket
from .requests import CORE_REQUESTS, ClientRequest, Dispatcher, RequestHandler
from .services import Services
from .topics import TopicRegistry
from .utils import await_me_maybe

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

    from .server import HubSocketServer

logger = logging.getLogger("hub")
PLUGIN_REQUEST = r"^[a-z][a-z0-9_]*$"


class Hub:
    """A running hub. Plugins receive it in their hooks."""

    def __init__(self, settings: Settings, pm: pluggy.PluginManager, log: EventLog) -> None:
        self.settings = settings
        self.pm = pm
        self.log = log
        self.metrics = HubMetrics()
        self.verifier = TokenVerifier(settings)
        self.topics = TopicRegistry()
        self.connections: dict[str, Connection] = {}
        self.plugins = plugin_names(pm)
        self._plugin_config = self._build_plugin_config()
        self._tasks: set[asyncio.Task[Any]] = set()
        #: The next expiry step of each connection: one timer handle, not a sleeping task
        #: per connection (a task and its coroutine frame cost kilobytes per connection).
        self._expiry: dict[str, asyncio.TimerHandle] = {}
        #: Python APIs that plugins offer each other, by name (e.g. ``"notifications"``).
        #: A plugin provides one in ``hub_startup``; users look it up with
        #: ``hub.services.get(name, TheirProtocol)`` and carry on without it when it
        #: is absent, so no plugin imports another (see hub/services.py).
        self.services = Services(pm)
        self._register_topic_kinds()
        self.dispatcher = Dispatcher(self, self._collect_requests())
        self.sio: HubSocketServer  # set by the app factory, which builds the socket server
        #: The fan-out between hub processes (``hub.broker``): local, or Redis with its health.
        #: Set with the socket server's manager.
        self.broker: Broker | None = None
        self.started = False

    # Set-up -----------------------------------------------------------------

    def _build_plugin_config(self) -> dict[str, dict[str, Any]]:
        sections: dict[str, dict[str, Any]] = {}
        for plugin, defaults in call_each(self.pm, "hub_config_defaults"):
            sections[plugin] = dict(defaults)
        known = sorted(set(self.plugins) | set(sections), key=len, reverse=True)
        for section, values in self.settings.plugin_sections.items():
            for key, value in values.items():
                plugin, option = _section_owner(section, key, known)
                sections.setdefault(plugin, {})[option] = value
        return sections

    def _register_topic_kinds(self) -> None:
        results = call_each(self.pm, "hub_topic_kinds", settings=self.settings)
        # The core's kinds first, so a plugin re-registering one (say `user`) is the one named
        # as the intruder, whatever order the hooks ran in.
        results.sort(key=lambda result: not result[0].startswith("hub."))
        for plugin, kinds in results:
            for kind in kinds:
                try:
                    self.topics.register(kind, owner=f"plugin {plugin!r}")
                except ValueError as exc:
                    raise PluginError(str(exc)) from None

    def _collect_requests(self) -> dict[str, RequestHandler]:
        import re

        handlers: dict[str, RequestHandler] = dict(CORE_REQUESTS)
        for plugin, table in call_each(self.pm, "hub_requests", hub=self):
            prefix = plugin.removeprefix("hub.")
            for action, handler in table.items():
                if not re.match(PLUGIN_REQUEST, action):
                    raise PluginError(f"plugin {plugin!r}: request name {action!r} must match {PLUGIN_REQUEST}")
                handlers[f"{prefix}.{action}"] = handler
        return handlers

    @property
    def engine(self) -> Any:
        """The SQLAlchemy ``AsyncEngine`` of the event store, for plugins with tables of their own.

        Their tables come from revisions in ``migrations/``. Raises
        :class:`Unavailable` on a store without SQL (``memory://``).
        """
        engine = getattr(self.log, "engine", None)
        if engine is None:
            raise Unavailable("This hub's store has no SQL database (HUB_DATABASE_URL=memory://).")
        return engine

    def plugin_config(self, plugin: str) -> Mapping[str, Any]:
        """A plugin's configuration: its defaults, overridden by the operator's settings."""
        return self._plugin_config.get(plugin, {})

    async def start(self) -> None:
        await self.log.start()
        if self.broker is not None:
            await self.broker.start()
        await acall_each(self.pm, "hub_startup", hub=self)
        if any(kind.durable and (kind.retention.max_age or kind.retention.max_count is not None) for kind in self.topics):
            self.start_task(self._retention_loop(), name="retention")
        self.started = True

    async def stop(self) -> None:
        self.started = False
        for handle in self._expiry.values():
            handle.cancel()
        self._expiry.clear()
        try:
            await acall_each(self.pm, "hub_shutdown", hub=self)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self.broker is not None:
                await self.broker.stop()
            await self.log.close()

    async def _retention_loop(self) -> None:
        """Drop what each durable kind's retention no longer keeps (inbox events still queued stay)."""
        while True:
            await asyncio.sleep(self.settings.retention_interval)
            for kind in list(self.topics):
                if kind.durable and (kind.retention.max_age or kind.retention.max_count is not None):
                    try:
                        await self.log.trim(f"{kind.name}:", kind.retention)
                    except Exception:
                        logger.exception("retention pass for %s failed", kind.name)

    def start_task(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        """Run ``coro`` in the background; the hub keeps it referenced and cancels it on shutdown."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task %s failed", task.get_name(), exc_info=task.exception())

    # Authentication --------------------------------------------------------

    async def authenticate(self, request: HTTPConnection, roles: tuple[str, ...] = ()) -> Principal:
        """The principal of an HTTP request's bearer token; ``roles`` (any of) may be required."""
        token = bearer_token(request.headers.get("authorization"))
        principal = self.verifier.verify(token)
        if roles and not principal.has_role(*roles):
            raise Forbidden(f"This route needs the role {' or '.join(roles)}.")
        return principal

    # Connections -------------------------------------------------------------

    def admit(self, sid: str, environ: Mapping[str, Any], auth: Any) -> Connection:
        """Verify a handshake; the new connection, or a :class:`HubError` to refuse it."""
        token = token_from_handshake(auth, environ)
        principal = self.verifier.verify(token)
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
        inbox = connection.inbox
        # Live inbox events wait until the queued ones are out, so the user sees seq order.
        connection.catching_up[inbox] = []
        await self.sio.enter_room(connection.id, inbox)
        connection.subscriptions.add(inbox)
        self.metrics.connections.set(len(self.connections))
        await self.send(connection.id, Envelope.build(inbox, "hub.welcome", self._welcome(connection)))
        # After the welcome, so a client always hears hello before hub.token_expiring.
        self._schedule_expiry(connection)
        # The offline queue: whatever reached the inbox and was not acknowledged.
        await self.catch_up(connection, inbox, await self.log.pending(connection.user))
        await acall_each(self.pm, "hub_connect", hub=self, connection=connection)

    async def catch_up(self, connection: Connection, topic: str, backlog: Any) -> None:
        """Send ``backlog`` in order, then the live events held meanwhile, each once."""
        connection.catching_up.setdefault(topic, [])
        try:
            for event in backlog:
                await self._send_durable(connection, event.to_dict())
            while held := connection.catching_up[topic]:
                connection.catching_up[topic] = []
                for data in sorted(held, key=lambda item: item["seq"]):
                    await self._send_durable(connection, data)
        finally:
            # No await between the last check and this: nothing can slip into the buffer unseen.
            connection.catching_up.pop(topic, None)

    async def _send_durable(self, connection: Connection, data: dict[str, Any]) -> None:
        topic, seq = data["topic"], data["seq"]
        if seq <= connection.cursors.get(topic, 0):
            return
        connection.cursors[topic] = seq
        await self.sio.emit(data["type"], data, to=connection.id)

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
            "plugins": self.plugins,
        }

    async def disconnected(self, sid: str, reason: str = "lost") -> None:
        connection = self.connections.pop(sid, None)
        if connection is None:
            return
        connection.disconnect_reason = reason
        self.metrics.disconnects.labels(reason).inc()
        self._cancel_expiry(sid)
        self.metrics.connections.set(len(self.connections))
        try:
            await acall_each(self.pm, "hub_disconnect", hub=self, connection=connection)
        except PluginError:
            logger.exception("a plugin failed on disconnect")

    def refresh_connection(self, connection: Connection, principal: Principal) -> None:
        connection.principal = principal
        self._schedule_expiry(connection)

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
            delay, self._expiry_due, connection, step, connection.principal.expires_at
        )

    def _expiry_due(self, connection: Connection, step: Any, expires_at: float) -> None:
        if self.connections.get(connection.id) is not connection:
            return
        handle = self._expiry.get(connection.id)
        self.start_task(step(connection, expires_at, handle), name=f"expiry-{connection.id}")

    def _still_armed(self, connection: Connection, handle: asyncio.TimerHandle | None) -> bool:
        """No refresh or disconnection replaced this step while it was running."""
        return self.connections.get(connection.id) is connection and self._expiry.get(connection.id) is handle

    async def _expiry_notice(self, connection: Connection, expires_at: float, handle: asyncio.TimerHandle | None) -> None:
        await self.send(
            connection.id,
            Envelope.build(connection.inbox, "hub.token_expiring", {"expires_at": _iso(expires_at)}),
        )
        if self._still_armed(connection, handle):
            self._arm_expiry(connection, expires_at + self.settings.jwt_leeway, self._expiry_close)

    async def _expiry_close(self, connection: Connection, expires_at: float, handle: asyncio.TimerHandle | None) -> None:
        await self.send(connection.id, Envelope.build(connection.inbox, "hub.error", AuthExpired().to_wire()))
        if self._still_armed(connection, handle):
            self._expiry.pop(connection.id, None)
            await self.sio.disconnect(connection.id)

    # Topics and events -----------------------------------------------------

    async def subscribe(self, request: ClientRequest, topic: str, since: int | None) -> dict[str, Any]:
        """Subscribe a connection (policy checked); the ``subscribe`` reply."""
        connection = request.connection
        kind = await self.topics.check_subscribe(connection.principal, topic)
        verdicts = await acall_each(self.pm, "hub_authorize_subscribe", hub=self, connection=connection, topic=topic)
        if any(verdict is False for _, verdict in verdicts):
            raise Forbidden(f"You may not subscribe to {topic}.")
        reply: dict[str, Any] = {"topic": topic, "seq": 0, "recovered": False}
        if kind.durable and since is not None:
            # Join first and hold live events, then read the log: every event is
            # either in the backlog or held (or both, and then sent once).
            connection.catching_up[topic] = []
            connection.cursors[topic] = since
            await self.sio.enter_room(connection.id, topic)
            connection.subscriptions.add(topic)
            try:
                backlog = await self.log.backlog(topic, since)
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
        else:
            await self.sio.enter_room(connection.id, topic)
            connection.subscriptions.add(topic)
            if kind.durable:
                reply["seq"] = await self.log.latest_seq(topic)
                if not kind.inbox and topic not in connection.catching_up:
                    # Only events newer than the reply's seq are news to this subscriber.
                    connection.cursors[topic] = max(connection.cursors.get(topic, 0), reply["seq"])
        try:
            if kind.snapshot is not None:
                snapshot = await await_me_maybe(kind.snapshot(connection.principal, topic))
                if snapshot is not None:
                    reply["snapshot"] = snapshot
            await acall_each(self.pm, "hub_subscribe", hub=self, connection=connection, topic=topic)
        except BaseException:
            if since is not None:
                connection.catching_up.pop(topic, None)
            raise
        return reply

    async def unsubscribe(self, connection: Connection, topic: str) -> None:
        self.topics.resolve(topic)
        if topic == connection.inbox:
            raise Forbidden("A connection always follows its own inbox.")
        await self.sio.leave_room(connection.id, topic)
        connection.cursors.pop(topic, None)
        connection.catching_up.pop(topic, None)
        if topic in connection.subscriptions:
            connection.subscriptions.discard(topic)
            await acall_each(self.pm, "hub_unsubscribe", hub=self, connection=connection, topic=topic)

    async def publish(
        self,
        topic: str,
        type: str,
        data: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
        sender: str | None = None,
        meta: Mapping[str, Any] | None = None,
        skip_connection: str | None = None,
    ) -> Envelope:
        """Publish an event to a topic: stored first if the kind is durable, then delivered.

        The same ``id`` on the same durable topic is stored and delivered once;
        every call returns the stored envelope. ``skip_connection`` leaves out
        one connection (for example, the sender of a typing indicator).
        """
        kind, key = self.topics.resolve(topic)
        full_meta = dict(meta or {})
        if sender is not None:
            full_meta["sender"] = sender
        if isinstance(data, Mapping) and not isinstance(data, dict):
            data = dict(data)
        envelope = Envelope.build(topic, type, data, id=id, meta=full_meta)
        if kind.durable:
            appended = await self.log.append(envelope, inbox_user=key if kind.inbox else None, fresh_id=id is None)
            envelope = appended.envelope
            if not appended.created:
                return envelope
        self.metrics.published(kind.name)
        await self.sio.emit(envelope.type, envelope.to_dict(), room=topic, skip_sid=skip_connection)
        return envelope

    async def send(self, connection_id: str, envelope: Envelope) -> None:
        """Send one envelope to one connection only."""
        await self.sio.emit(envelope.type, envelope.to_dict(), to=connection_id)

    async def health(self) -> dict[str, Any]:
        try:
            database = await self.log.health()
        except Exception as exc:  # the health route must answer even when the database does not
            database = f"error: {type(exc).__name__}"
        # "local" (one process), "ok", or "down: <reason>" while Redis cannot carry events.
        broker = self.broker.status() if self.broker is not None else "local"
        healthy = database == "ok" and broker in ("ok", "local") and self.started
        return {
            "status": "ok" if healthy else "degraded",
            "database": database,
            "broker": broker,
            "connections": len(self.connections),
            "instance": instance_name(self.settings),
        }


def _section_owner(section: str, key: str, known: list[str]) -> tuple[str, str]:
    """The plugin and key a configured value belongs to.

    Without a file section naming it, ``HUB_PLUGIN_DOC_PROCESSING_MAX_PAGES``
    reaches the hub as section ``doc``, key ``processing_max_pages``: the config
    reader cannot know plugin names. The loaded plugins' names (``known``,
    longest first) settle it.
    """
    if section in known:
        return section, key
    joined = f"{section}_{key}"
    for name in known:
        if joined.startswith(name + "_") and len(joined) > len(name) + 1:
            return name, joined[len(name) + 1:]
    return section, key


def _iso(timestamp: float) -> str:
    return utc_timestamp(datetime.fromtimestamp(timestamp, timezone.utc))


__all__ = ["Hub", "HubError"]
