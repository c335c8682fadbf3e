"""The Python client's hold on python-socketio's client internals (optimisation ``client_goodbye``).

python-socketio's ``AsyncClient.disconnect`` closes a websocket before its
goodbye (the DISCONNECT packet) is written, so the hub would see a lost
connection and presence would wait out its grace period; and on long-polling
python-engineio's server answers a pending poll only at the next ping (up to
25 s), so a graceful close would wait that long. :func:`say_goodbye` sends
the goodbye through the client's private ``_send_packet`` and waits for the
Engine.IO ``queue`` to drain, or aborts a long-polling session at once.

:func:`check` looks for those once per process; when it fails (logged on
``hub.compat``), :func:`say_goodbye` does nothing and the client closes the
library's way (``disconnect``), which is correct, only less prompt.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import engineio
import socketio
from socketio import packet as socketio_packet

from .checks import ON, method, run, uses, warn

NAME = "client_goodbye"


def check() -> None:
    """What :func:`say_goodbye` relies on."""
    method(socketio.AsyncClient, "_send_packet", "socketio.AsyncClient", ("pkt",), coroutine=True)
    uses(socketio.base_client.BaseClient.__init__, ["packet_class", "eio"], "socketio.base_client.BaseClient.__init__")
    uses(engineio.base_client.BaseClient.__init__, ["queue"], "engineio.base_client.BaseClient.__init__")
    method(engineio.AsyncClient, "disconnect", "engineio.AsyncClient", ("abort",), coroutine=True)


@functools.cache
def state() -> str:
    """This process's state of ``client_goodbye`` (checked once, logged when off)."""
    found = run(check)
    if found != ON:
        warn(NAME, found)
    return found


async def say_goodbye(sio: Any) -> None:
    """Make ``sio``'s coming disconnection clean and prompt (see the module docstring)."""
    if state() != ON or not sio.connected:
        return
    if sio.transport() == "websocket":
        try:
            await sio._send_packet(sio.packet_class(socketio_packet.DISCONNECT, namespace="/"))
            await asyncio.wait_for(sio.eio.queue.join(), 2)
        except (TimeoutError, AttributeError):
            pass
    elif sio.transport() == "polling":
        await sio.eio.disconnect(abort=True)
