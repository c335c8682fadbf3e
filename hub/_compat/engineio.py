"""python-engineio's internals: lighter sessions, and the size of a session's send queue.

Light sessions (``light_sessions``): a hub holds thousands of idle
connections, so what each costs matters (see the idle workload of
``bench/fanout/run.py``). Two of python-engineio's per-connection costs are
its own choices, replaced here without changing what goes over the wire:

- every session's send queue is an ``asyncio.Queue`` (four deques and an
  event allocated up front, about 3 KB, for a queue nearly always empty):
  :class:`hub.eio.LightQueue` allocates only while something waits in it,
  through ``create_queue``, which python-engineio's sockets call;
- its ASGI request translation defines a class for every request (a new type
  object: about 2.5 KB kept for the life of a websocket, and a slow step of
  every connect): :func:`translate_request` does the same with one class, put
  in the server's copy of the driver table (``_async["translate_request"]``).

python-socketio builds its Engine.IO server through the private
``_engineio_server_class``; :class:`CompatServer` overrides it only when the
check passed. When it fails, the stock ``engineio.AsyncServer`` serves.

Session queue (``polling_slow_consumer_limit``): a client that does not read
what is queued for it (long-polling, or a websocket off the fast path) is
dropped past ``HUB_SLOW_CONSUMER_PACKETS``; how many packets wait is read from
the session's queue (``server.sockets[sid].queue``). Off, the queue is unbounded,
as in python-engineio itself.
"""

from __future__ import annotations

import time
from typing import Any

import engineio
import socketio
from engineio import base_server, base_socket
from engineio.async_drivers import asgi

from ..eio import LightQueue, translate_request
from . import heartbeat, pings
from .checks import Report, attribute, holds, method, uses

LIGHT_SESSIONS = "light_sessions"
SESSION_QUEUE = "polling_slow_consumer_limit"
TRIMMED_ENVIRON = "trimmed_environ"
#: What a session's environ keeps once its connection is admitted (the rest, with the
#: ASGI scope and its headers, went into the handshake and is not read again).
ENVIRON_KEPT = frozenset({
    "REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "REMOTE_ADDR", "HTTP_HOST", "HTTP_ORIGIN",
    "HTTP_USER_AGENT", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "wsgi.url_scheme",
})


def check_light_sessions() -> None:
    """What :class:`HubEngineIOServer` relies on."""
    method(socketio.AsyncServer, "_engineio_server_class", "socketio.AsyncServer")
    uses(socketio.base_server.BaseServer.__init__, ["_engineio_server_class"], "socketio.base_server.BaseServer.__init__")
    method(engineio.AsyncServer, "create_queue", "engineio.AsyncServer")
    uses(base_socket.BaseSocket.__init__, ["create_queue"], "engineio.base_socket.BaseSocket.__init__")
    table = attribute(asgi, "_async", "engineio.async_drivers.asgi")
    holds(table, "translate_request", attribute(asgi, "translate_request", "engineio.async_drivers.asgi"),
          "engineio.async_drivers.asgi._async")
    method(asgi, "translate_request", "engineio.async_drivers.asgi", ("scope", "receive", "send"), coroutine=True)
    uses(base_server.BaseServer.__init__, ["_async"], "engineio.base_server.BaseServer.__init__")


def check_session_queue() -> None:
    """What :func:`queued_packets` reads."""
    uses(base_server.BaseServer.__init__, ["sockets"], "engineio.base_server.BaseServer.__init__")
    uses(base_socket.BaseSocket.__init__, ["queue", "closing"], "engineio.base_socket.BaseSocket.__init__")


def check_trimmed_environ() -> None:
    """What :func:`trim_environ` relies on: python-socketio keeps each session's environ in ``environ``."""
    where = "socketio.async_server.AsyncServer"
    uses(socketio.async_server.AsyncServer._handle_eio_connect, ["environ"], f"{where}._handle_eio_connect")
    uses(socketio.async_server.AsyncServer._handle_connect, ["environ", "connect"], f"{where}._handle_connect")
    method(socketio.AsyncServer, "get_environ", where, ("sid",))


def trim_environ(sio: Any, sid: str, environ: dict[str, Any] | Any) -> None:
    """Keep only :data:`ENVIRON_KEPT` of an admitted session's environ.

    python-socketio keeps the environ of the handshake for the session's life
    (``get_environ``, the connect of another namespace), and so do the frames
    of the request that became the websocket: about 2 KB of headers and the
    ASGI scope. The session's entry becomes a small copy, and the original is
    emptied (``clear`` frees its table, which deleting keys would not).
    """
    if not isinstance(environ, dict):
        return
    original: dict[str, Any] = environ
    eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
    stored = sio.environ.get(eio_sid) if eio_sid is not None else None
    if stored is not original:
        return
    sio.environ[eio_sid] = {key: value for key, value in original.items() if key in ENVIRON_KEPT}
    original.clear()


def queued_packets(eio: Any, eio_sid: str) -> int:
    """How many packets wait in a session's send queue (0 when it is closing or gone)."""
    sock = eio.sockets.get(eio_sid)
    if sock is None or sock.closing:
        return 0
    return int(sock.queue.qsize())


class HubEngineIOServer(engineio.AsyncServer):  # type: ignore[misc]
    """python-engineio's ASGI server with the hub's optimisations that are on.

    ``light_sessions``: :class:`LightQueue` and :func:`translate_request`;
    ``ping_deadline``: the heartbeat of :mod:`.heartbeat`; ``shared_ping_timer``:
    the pings of :mod:`.pings`. :meth:`bound` makes
    the class for one hub's report.
    """

    light = True
    ping_deadline = True
    shared_pings = True

    @classmethod
    def bound(cls, compat: Report) -> type:
        """This class with the optimisations ``compat`` has on."""
        attributes = {"light": compat.enabled(LIGHT_SESSIONS), "ping_deadline": compat.enabled(heartbeat.NAME),
                      "shared_pings": compat.enabled(pings.NAME)}
        return type("HubEngineIOServerBound", (cls,), attributes)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        drivers: Any = getattr(self, "_async", None)
        if self.light and isinstance(drivers, dict) and "translate_request" in drivers:
            # A copy: the driver table is shared by every server of the process.
            self._async = dict(drivers, translate_request=translate_request)

    def create_queue(self, *args: Any, **kwargs: Any) -> Any:
        if self.light and not args and not kwargs:
            return LightQueue()
        return super().create_queue(*args, **kwargs)

    async def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "connect" and self.shared_pings and args:
            pings.adopt(self, args[0])  # just before python-engineio's first schedule_ping
        return await super()._trigger_event(event, *args, **kwargs)

    async def _service_task(self) -> None:
        if self.ping_deadline:
            await heartbeat.sweep(self)
        else:
            await super()._service_task()

    def _get_socket(self, sid: str) -> Any:
        sock = super()._get_socket(sid)
        if self.ping_deadline and heartbeat.expired(sock, self.ping_timeout, time.time()):
            # Past its deadline the session is gone, whether or not the sweep got to it yet.
            self.start_background_task(heartbeat.close_expired, self, sock)
            raise KeyError("Session is disconnected")
        return sock


class CompatServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server on :class:`HubEngineIOServer` when one of its optimisations is on.

    ``compat`` (the hub's :class:`~hub._compat.checks.Report`) is a keyword
    argument, read before python-socketio builds its Engine.IO server.
    """

    def __init__(self, *, compat: Report, **kwargs: Any) -> None:
        self.compat = compat
        super().__init__(**kwargs)

    def _engineio_server_class(self) -> type:
        chosen: type = engineio.AsyncServer
        if any(self.compat.enabled(name) for name in (LIGHT_SESSIONS, heartbeat.NAME, pings.NAME)):
            chosen = HubEngineIOServer.bound(self.compat)
        return chosen
