"""An HTTP response written with one ``transport.write`` (optimisation ``one_write_response``).

uvicorn's httptools protocol writes a response's status line and headers when
the application sends ``http.response.start``, and its body, separately, on
``http.response.body``: two ``send`` system calls, and on loopback two
segments the client reads apart. For a small JSON answer (a publish's
``{id, seq}``) that second write cost about as much as the rest of uvicorn's
response handling. :func:`send_response` gives uvicorn both messages as
usual, with every byte uvicorn writes for them held back and handed to the
transport once, after the body: the bytes on the wire, uvicorn's headers,
keep-alive, ``Content-Length`` checks and connection close are uvicorn's own.

It relies on the ``send`` callable being the bound ``send`` of uvicorn's
``RequestResponseCycle`` (httptools), which writes through its ``transport``
attribute; :func:`check` looks for that in the code at start-up. With any
other ``send`` (the h11 protocol, a middleware's wrapper, a test client), or
with the check failed, the two messages are sent plainly.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from .checks import attribute, method, uses

NAME = "one_write_response"
MODULE = "uvicorn.protocols.http.httptools_impl"

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

def _cycle() -> Any:
    return attribute(importlib.import_module(MODULE), "RequestResponseCycle", MODULE)


def check() -> None:
    """What :func:`send_response` relies on."""
    cycle = _cycle()
    where = f"{MODULE}.RequestResponseCycle"
    uses(cycle.__init__, ["transport"], f"{where}.__init__")
    method(cycle, "send", where, ("message",), coroutine=True)
    # Both parts of a response, and the close of a connection not kept alive, go through self.transport.
    uses(cycle.send, ["transport", "write", "close"], f"{where}.send")


def cycle_class(enabled: bool) -> type | None:
    """For :func:`send_response`: uvicorn's cycle class when the check passed (``enabled``), else None."""
    return _cycle() if enabled else None


class _Held:
    """A transport stand-in that keeps what is written until :meth:`release` writes it in one piece."""

    __slots__ = ("transport", "parts")

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def release(self) -> None:
        if self.parts:
            data = self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)
            self.parts = []
            self.transport.write(data)

    def close(self) -> None:
        # A connection not kept alive closes after its response: the response goes first.
        self.release()
        self.transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def send_response(
    send: Send, status: int, headers: Sequence[tuple[bytes, bytes]], body: bytes, one_write: type | None
) -> None:
    """Send a whole response (``http.response.start``, then one ``http.response.body``).

    In one write when ``send`` belongs to an instance of ``one_write`` (from :func:`cycle_class`).
    """
    start = {"type": "http.response.start", "status": status, "headers": headers}
    end = {"type": "http.response.body", "body": body}
    cycle: Any = getattr(send, "__self__", None)
    held_back = one_write is not None and type(cycle) is one_write
    if not held_back:
        await send(start)
        await send(end)
        return
    transport = cycle.transport
    held = _Held(transport)
    cycle.transport = held
    try:
        # The first send may wait for the transport to drain before it writes anything; once
        # something is held, nothing awaits until the body is written (the buffer did not grow).
        await send(start)
        await send(end)
    finally:
        cycle.transport = transport
        held.release()
