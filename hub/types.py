"""The leaf of shared types: what the core's modules and the plugins annotate with.

Nothing here imports a module that wires the hub together (the facade, the
socket server, the broker, the plugin host): those depend on this module, never
the reverse, so the core's import graph has no cycle (tests/test_import_graph.py).
The modules imported below are data types that import no part of the core's wiring.

- :class:`Hub`: the hub as plugins and the HTTP routes see it (``from hub import Hub``).
- :class:`CoreHub`: the hub as the socket server, delivery and broker see it.
- :class:`ClientRequest` and :data:`RequestHandler`: one client request, and a handler of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .errors import InvalidMessage

if TYPE_CHECKING:
    import pluggy
    from starlette.requests import HTTPConnection

    from .auth import Principal, TokenVerifier
    from .config import Settings
    from .connection import Connection
    from .database import Database
    from .services import Services
    from .envelope import Envelope
    from .eventlog.base import EventLog
    from .metrics import HubMetrics
    from .topics import TopicRegistry

#: Something to run once a request's reply has been sent.
AfterReply = Callable[[], Awaitable[None]]


class Hub(Protocol):
    """A running hub, as plugins receive it in their hooks and their routes.

    It is the one path by which events leave the hub (:meth:`publish`,
    :meth:`send`). The concrete object is built by :func:`hub.app.create_app`.
    """

    settings: Settings
    log: EventLog
    metrics: HubMetrics
    topics: TopicRegistry
    #: Python APIs that plugins offer each other, by name; see docs/plugins.md.
    services: Services
    #: The enabled installed plugins' names.
    plugins: list[str]

    @property
    def connections(self) -> Mapping[str, Connection]:
        """The live connections of this process, by connection id."""

    @property
    def database(self) -> Database:
        """The SQL database plugins read and write their tables through; ``Unavailable`` on ``memory://``."""

    @property
    def engine(self) -> Any:
        """The SQLAlchemy ``AsyncEngine`` of the event store, for reads; ``Unavailable`` on ``memory://``."""

    def plugin_config(self, plugin: str) -> Mapping[str, Any]:
        """A plugin's configuration: its defaults, overridden by the operator's settings."""

    def start_task(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        """Run ``coro`` in the background; the hub keeps it referenced and cancels it on shutdown."""

    async def authenticate(self, request: HTTPConnection, roles: tuple[str, ...] = ()) -> Principal:
        """The principal of an HTTP request's bearer token; ``roles`` (any of) may be required."""

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
        """Publish an event to a topic: stored first if the kind is durable, then delivered."""

    async def send(self, connection_id: str, envelope: Envelope) -> None:
        """Send one envelope to one connection only."""

    async def health(self) -> dict[str, Any]:
        """What ``/api/health`` answers."""


class Dispatch(Protocol):
    """The request dispatcher, as the socket server calls it."""

    async def dispatch(
        self, connection: Connection, name: Any, args: list[Any], size: int
    ) -> tuple[dict[str, Any], list[AfterReply]]:
        """The reply to one request, and what to run after sending it."""


class CoreHub(Hub, Protocol):
    """The hub as the core's transport sees it: admission, requests, catch-up."""

    verifier: TokenVerifier
    #: This hub's plugin manager: hooks are called as ``pm.hook.<name>(...)``.
    pm: pluggy.PluginManager
    sio: SocketServer
    #: The fan-out between hub processes, set with the socket server's manager.
    broker: Broker | None

    @property
    def dispatcher(self) -> Dispatch:
        """Where every client event goes."""

    def admit(self, sid: str, environ: Mapping[str, Any], auth: Any) -> Connection:
        """Verify a handshake; the new connection, or a ``HubError`` to refuse it."""

    async def connected(self, connection: Connection) -> None:
        """A connection was accepted and its CONNECT packet sent."""

    async def send_here(self, connection_id: str, event: str, data: dict[str, Any], binary: bool | None = None) -> None:
        """One event to a connection of this process, before anything else is on its way to it."""

    async def disconnected(self, sid: str, reason: str = "lost") -> None:
        """A connection closed."""

    async def catch_up(self, connection: Connection, topic: str, backlog: Any) -> None:
        """Send ``backlog`` in order, then the live events held meanwhile, each once."""

    async def recover(self) -> int:
        """Send every local connection the durable events it missed (after a broker outage)."""

    def fill_gap(self, connection: Connection, topic: str) -> None:
        """Send ``connection`` the durable events of ``topic`` it lacks from the log, then what it holds."""


class Broker(Protocol):
    """What the hub asks of its fan-out: a status for ``/api/health``, a start and a stop."""

    kind: str

    def status(self) -> str: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class SocketServer(Protocol):
    """What the hub's parts need of the Socket.IO server (python-socketio's ``AsyncServer``)."""

    async def emit(self, event: str, data: Any = None, to: Any = None, room: Any = None,
                   skip_sid: Any = None, namespace: str | None = None) -> None: ...

    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None: ...

    async def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None: ...

    async def disconnect(self, sid: str, namespace: str | None = None, ignore_queue: bool = False) -> None: ...


@dataclass
class ClientRequest:
    """One request from a client, as a handler sees it."""

    hub: Hub
    connection: Connection
    name: str
    payload: dict[str, Any]
    after_reply: list[AfterReply] = field(default_factory=list)

    @property
    def principal(self) -> Principal:
        return self.connection.principal

    def then(self, action: AfterReply) -> None:
        """Run ``action`` once the reply has been sent (for example, a backlog after ``subscribe``)."""
        self.after_reply.append(action)

    def field(self, name: str, kind: type | tuple[type, ...], required: bool = True) -> Any:
        """The payload's ``name`` checked against ``kind``; :class:`InvalidMessage` otherwise."""
        if name not in self.payload or self.payload[name] is None:
            if required:
                raise InvalidMessage(f"'{name}' is required.")
            return None
        value = self.payload[name]
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
            raise InvalidMessage(f"'{name}' has the wrong type.")
        return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


#: ``async def handler(request: ClientRequest) -> dict | None``: a client request's handler.
RequestHandler = Callable[[ClientRequest], Awaitable[dict[str, Any] | None]]

__all__ = ["AfterReply", "ClientRequest", "CoreHub", "Dispatch", "Hub", "RequestHandler", "SocketServer", "Broker"]
