"""The Hub: the facade that the core's parts and every plugin work through.

It holds the topic registry, the event log, the plugin manager and the socket
server, runs the hub's lifecycle, and is the one path by which events leave
the hub (:meth:`Hub.publish` and :meth:`Hub.send`). Its concerns live in their
own modules: admission and token expiry in :mod:`hub.sessions`, each
connection's cursors and catch-up in :mod:`hub.streams`, what plugins
contribute in :mod:`hub.contributions`. Plugins annotate with the
:class:`hub.types.Hub` protocol (``from hub import Hub``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._compat import memory_paths, optimisations
from .auth import Principal, TokenVerifier
from .broker import instance_name
from .config import Settings
from .connection import Connection
from .contributions import plugin_config, plugin_requests, register_topic_kinds
from .database import Database
from .envelope import Envelope, check_storable
from .errors import HubError, Unavailable
from .eventlog import EventLog
from .hookcalls import settle
from .metrics import HubMetrics
from .plugins import FoundPlugin, plugin_names, register_plugins
from .requests import Dispatcher, core_requests
from .sessions import Sessions
from .streams import Streams
from .services import Services
from .topics import TopicRegistry
from .types import Broker, ClientRequest, SocketServer

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

logger = logging.getLogger("hub")


class Hub:
    """A running hub. Plugins receive it in their hooks (typed as :class:`hub.types.Hub`).

    ``plugins`` are registered here, after the hub's own parts exist and before
    any hook runs: a class plugin is instantiated as ``Plugin(hub)``.
    """

    def __init__(self, settings: Settings, plugins: Sequence[FoundPlugin], log: EventLog) -> None:
        self.settings = settings
        self.log = log
        # The enabled plugins' names: metric names must start with one (hub_<plugin>_...).
        self.metrics = HubMetrics(found.name for found in plugins if not found.name.startswith("hub."))
        self.verifier = TokenVerifier(settings)
        self.topics = TopicRegistry()
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Python APIs that plugins offer each other, by name (e.g. ``"notifications"``).
        #: A plugin provides one in ``hub_startup``; users look it up with
        #: ``hub.services.get(name, TheirProtocol)`` and carry on without it when it
        #: is absent, so no plugin imports another (see hub/services.py).
        self.services = Services()
        self.sio: SocketServer  # set by the app factory, which builds the socket server
        #: The fan-out between hub processes (``hub.broker``): local, or Redis with its health.
        #: Set with the socket server's manager.
        self.broker: Broker | None = None
        self.started = False
        self.streams = Streams(self)
        self.sessions = Sessions(self, self.verifier, self.streams)
        self.connections: dict[str, Connection] = self.sessions.connections
        self.pm = register_plugins(plugins, self)
        self.services.bind(self.pm)  # so a service's provider is known by its plugin's name
        self.plugins = plugin_names(self.pm)
        self._plugin_config = plugin_config(self.pm, settings, self.plugins)
        register_topic_kinds(self.pm, self, self.topics)
        handlers = {**core_requests(self.streams, self.sessions), **plugin_requests(self.pm, self)}
        self.dispatcher = Dispatcher(self, handlers)

    # Set-up -----------------------------------------------------------------

    @property
    def database(self) -> Database:
        """The SQL database of the event store, for plugins with tables of their own.

        Their tables come from their own migrations (the ``hub_migrations`` hook). Every
        write goes through it (``hub.database.write()``): on SQLite it is the one writer
        that the core and every plugin take turns on. Raises
        :class:`Unavailable` on a store without SQL (``memory://``).
        """
        database = getattr(self.log, "database", None)
        if not isinstance(database, Database):
            raise Unavailable("This hub's store has no SQL database (HUB_DATABASE_URL=memory://).")
        return database

    @property
    def engine(self) -> Any:
        """The SQLAlchemy ``AsyncEngine`` of :attr:`database`, for reads; write through ``hub.database.write()``."""
        return self.database.engine

    def plugin_config(self, plugin: str) -> Mapping[str, Any]:
        """A plugin's configuration: its defaults, overridden by the operator's settings."""
        return self._plugin_config.get(plugin, {})

    async def start(self) -> None:
        await self.log.start()
        if self.broker is not None:
            await self.broker.start()
        await settle(self.pm.hook.hub_startup(hub=self))
        if any(kind.durable and (kind.retention.max_age or kind.retention.max_count is not None) for kind in self.topics):
            self.start_task(self._retention_loop(), name="retention")
        self.started = True

    async def stop(self) -> None:
        self.started = False
        self.sessions.stop()
        try:
            await settle(self.pm.hook.hub_shutdown(hub=self))
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


    # Connections: the socket server's side, in hub.sessions and hub.streams ----

    async def authenticate(self, request: HTTPConnection, roles: tuple[str, ...] = ()) -> Principal:
        """The principal of an HTTP request's bearer token; ``roles`` (any of) may be required."""
        return await self.sessions.authenticate(request, roles)

    def admit(self, sid: str, environ: Mapping[str, Any], auth: Any) -> Connection:
        """Verify a handshake; the new connection, or a :class:`HubError` to refuse it."""
        return self.sessions.admit(sid, environ, auth)

    async def connected(self, connection: Connection) -> None:
        await self.sessions.connected(connection)

    async def disconnected(self, sid: str, reason: str = "lost") -> None:
        await self.sessions.disconnected(sid, reason)

    async def subscribe(self, request: ClientRequest, topic: str, since: int | None) -> dict[str, Any]:
        """Subscribe a connection (policy checked); the ``subscribe`` reply."""
        return await self.streams.subscribe(request, topic, since)

    async def catch_up(self, connection: Connection, topic: str, backlog: Any) -> None:
        await self.streams.catch_up(connection, topic, backlog)

    async def recover(self) -> int:
        return await self.streams.recover()

    def fill_gap(self, connection: Connection, topic: str) -> None:
        self.streams.fill_gap(connection, topic)

    # Events and health --------------------------------------------------------

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
            check_storable(kind.name, envelope.data)
            appended = await self.log.append(envelope, inbox_user=key if kind.inbox else None, fresh_id=id is None)
            envelope = appended.envelope
            if not appended.created:
                return envelope
        self.metrics.published(kind.name, envelope.type)
        await self.sio.emit(envelope.type, envelope.to_dict(), room=topic, skip_sid=skip_connection)
        return envelope

    async def send(self, connection_id: str, envelope: Envelope) -> None:
        """Send one envelope to one connection only."""
        await self.sio.emit(envelope.type, envelope.to_dict(), to=connection_id)

    async def send_here(self, connection_id: str, event: str, data: dict[str, Any], binary: bool | None = None) -> None:
        """One event to a connection of this process, before anything else is on its way to it.

        For a new connection's welcome and its offline queue: written straight to
        the connection (:meth:`hub.delivery.LocalDelivery.send_here`), without
        python-socketio's emit, the fan-out's turn or, on Redis, a round trip through
        the broker; through the emit where the socket server's manager has no such path.
        ``binary`` False says ``data`` holds no bytes (sparing a walk through it).
        """
        send_here = getattr(getattr(self.sio, "manager", None), "send_here", None)
        if send_here is not None:
            await send_here(connection_id, event, data, binary)
        else:
            await self.sio.emit(event, data, to=connection_id)

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
            # Which optimisations on the libraries' internals are on; never changes "status".
            "optimisations": optimisations(getattr(self, "sio", None)),
            "memory_paths": memory_paths(getattr(self, "sio", None)),
        }


__all__ = ["Hub", "HubError"]
