"""The one place the hub leans on python-socketio's, python-engineio's and uvicorn's internals.

Each optimisation that needs a private method, attribute or class of those
libraries lives in a module of its own here, with a check of the internals'
shape run at start-up (:func:`check_internals`). An optimisation whose check
fails is off: a WARNING on the ``hub.compat`` logger says which and why,
``/api/health`` shows it under ``optimisations`` (never changing ``status``),
the gauge ``hub_optimisation_enabled{name}`` is 0, and the hub works on the
libraries' public behaviour instead. The optimisations:

- ``websocket_fastpath`` (:mod:`.fastpath`): an event's frame built once and
  written to each websocket's transport;
- ``light_sessions`` (:mod:`.engineio`): a lazily allocated send queue and one
  request-translation class per Engine.IO session;
- ``polling_slow_consumer_limit`` (:mod:`.engineio`): dropping a client whose
  send queue passes ``HUB_SLOW_CONSUMER_PACKETS``;
- ``trimmed_environ`` (:mod:`.engineio`): an admitted session's environ
  trimmed to what is read later;
- ``ping_deadline`` (:mod:`.heartbeat`): a session that missed its pong closed
  at its deadline (pingInterval + pingTimeout), on every transport;
- ``shared_ping_timer`` (:mod:`.pings`): Engine.IO pings from one timer per
  server, not a sleeping task per connection;
- ``light_websocket`` (:mod:`.wsloop`): a websocket session served by its
  connection's own task, without python-engineio's writer task and a task per
  message read (needs ``websocket_fastpath``, ``light_sessions``, ``ping_deadline``);
- ``room_index`` (:mod:`.rooms`): a disconnect costs the connection's own
  rooms, not a walk over every room;
- ``light_ws_protocol`` (:mod:`.uvicorn`): uvicorn's websocket protocol
  without a full ``asyncio.Queue`` or a kept handshake (``hub serve``);
- ``light_ws_handshake`` (:mod:`.uvicorn`, :mod:`.handshake`, :mod:`.uvicorn_http`):
  a well-formed websocket upgrade answered without websockets' parser, handed
  over parsed by uvicorn's HTTP protocol, addresses read from the transport
  (needs ``light_ws_protocol``);
- ``one_write_response`` (:mod:`.response`): the publish routes' answers
  written to the socket in one piece, not headers and body apart;
- ``direct_publish`` (:mod:`.http_fast`): ``POST /api/publish`` answered by
  uvicorn's HTTP protocol itself, without ASGI (``hub serve``);
- ``sqlite_one_trip`` (:mod:`.sqlite`): an event log append's transaction in
  one trip to aiosqlite's thread;
- ``redis_broker_probe`` (:mod:`.redis`): the Redis broker's own publish and
  listen, which its health probes and outage recovery need;
- ``client_goodbye`` (:mod:`.client`, the Python client; checked there).

Nothing outside this package names those internals; see docs/dependencies.md
for moving to a newer library version.
"""

from __future__ import annotations

import asyncio
from typing import Any

from . import engineio, fastpath, heartbeat, http_fast, pings, redis, response, rooms, sqlite, uvicorn, uvicorn_http, wsloop
from .checks import ON, Report, report, warn

#: The hub's optimisations and their checks, in the order ``/api/health`` lists them.
CHECKS = {
    fastpath.NAME: fastpath.check,
    engineio.LIGHT_SESSIONS: engineio.check_light_sessions,
    engineio.SESSION_QUEUE: engineio.check_session_queue,
    engineio.TRIMMED_ENVIRON: engineio.check_trimmed_environ,
    heartbeat.NAME: heartbeat.check,
    pings.NAME: pings.check,
    wsloop.NAME: wsloop.check,
    rooms.NAME: rooms.check,
    uvicorn.NAME: uvicorn.check,
    uvicorn.HANDSHAKE: uvicorn.check_handshake,
    response.NAME: response.check,
    http_fast.NAME: http_fast.check,
    sqlite.NAME: sqlite.check,
    redis.NAME: redis.check,
}

#: Optimisations that work only on top of others.
DEPENDS = {wsloop.NAME: wsloop.NEEDS, uvicorn.HANDSHAKE: (uvicorn.NAME,)}


def check_internals(gauge: Any = None) -> Report:
    """Check every internal the hub relies on; the report of one hub (logged when something is off).

    ``gauge`` (a Prometheus gauge labelled ``name``) follows each optimisation's state.
    """
    found = report(CHECKS)
    for name, needs in DEPENDS.items():
        missing = [need for need in needs if not found.enabled(need)]
        if found.enabled(name) and missing:
            found.set(name, f"off: needs {', '.join(missing)}")
            warn(name, found.states[name])
    if gauge is not None:
        found.bind(gauge)
    return found


def optimisations(sio: Any) -> dict[str, str]:
    """``/api/health``'s ``optimisations``: each name, ``"on"`` or ``"off: <why>"``."""
    compat = getattr(sio, "compat", None)
    return compat.as_dict() if isinstance(compat, Report) else {}


def memory_paths(sio: Any) -> dict[str, int]:
    """``/api/health``'s ``memory_paths``: whether the per-connection savings are engaged, as counts.

    ``ping_timer_sessions``: sessions whose next ping waits on the shared timer
    (``shared_ping_timer``); ``one_task_websockets``: websockets served by their
    connection's own task (``light_websocket``); ``tasks``: the process's asyncio
    tasks (one per idle websocket with both on, five without).
    """
    eio = getattr(sio, "eio", None)
    try:
        tasks = len(asyncio.all_tasks())
    except RuntimeError:  # no running loop
        tasks = 0
    return {"ping_timer_sessions": pings.waiting(eio), "one_task_websockets": wsloop.serving(eio), "tasks": tasks}


def websocket_protocol(sio: Any) -> type | str:
    """The ``ws`` argument of ``uvicorn.run`` for the hub served by ``sio``."""
    compat = getattr(sio, "compat", None)
    if not isinstance(compat, Report):
        return uvicorn.websocket_protocol(False)
    return uvicorn.websocket_protocol(compat.enabled(uvicorn.NAME), handshake=compat.enabled(uvicorn.HANDSHAKE))


def http_protocol(sio: Any) -> type | str:
    """The ``http`` argument of ``uvicorn.run`` for the hub served by ``sio``: uvicorn's own choice when nothing is on."""
    compat = getattr(sio, "compat", None)
    if not isinstance(compat, Report):
        return "auto"
    chosen = uvicorn_http.protocol_class(
        direct_publish=compat.enabled(http_fast.NAME), light_upgrade=compat.enabled(uvicorn.HANDSHAKE)
    )
    return chosen or "auto"


def one_write_class(sio: Any) -> type | None:
    """What :func:`.response.send_response` needs to write a response in one piece; None when that is off."""
    compat = getattr(sio, "compat", None)
    return response.cycle_class(isinstance(compat, Report) and compat.enabled(response.NAME))


__all__ = [
    "CHECKS", "ON", "Report", "check_internals", "http_protocol", "memory_paths", "one_write_class", "optimisations",
    "websocket_protocol",
]
