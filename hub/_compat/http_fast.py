"""``POST /api/publish`` served by the HTTP protocol itself (optimisation ``direct_publish``).

A backend publishing one event per request paid the hub more main-thread CPU
for uvicorn's ASGI machinery around the route than for storing the event:
per request a ``RequestResponseCycle`` with an ``asyncio.Event``, its
``run_asgi`` task, the proxy-headers middleware, the ``receive`` message and
two ``send`` messages with their header checks, then Starlette's request and
response objects. :func:`with_direct_publish`, uvicorn's httptools protocol
with one method changed, gives a request the app's
:class:`~hub.publish_fast.DirectPublish` takes (``POST /api/publish``, HTTP/1.1,
no ``Origin``, a body of a declared length within the limit, no upgrade, no
``Expect``, no ``root_path``) a :class:`_DirectCycle` instead: uvicorn's own
parser callbacks fill its body, uvicorn's pipelining queues it behind a request
still being answered, its task is tracked with uvicorn's (graceful shutdown waits
for it), and its answer is written in one ``transport.write`` with the bytes
uvicorn writes for it (status line, default headers, ``connection: close`` when
the connection is not kept alive). Every other request goes through uvicorn
and the app unchanged.

It leans on the protocol's and the cycle's private attributes; :func:`check`
looks for them in uvicorn's code at start-up, and ``hub serve``'s HTTP protocol
(:func:`hub._compat.uvicorn_http.protocol_class`) goes without it when they are gone.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from ..eio import LightEvent
from .checks import Missing, attribute, method, uses

NAME = "direct_publish"
MODULE = "uvicorn.protocols.http.httptools_impl"

logger = logging.getLogger("uvicorn.error")


def _module() -> Any:
    return importlib.import_module(MODULE)


def check() -> None:
    """What :func:`with_direct_publish`'s protocol and :class:`_DirectCycle` rely on."""
    module = _module()
    base = attribute(module, "HttpToolsProtocol", MODULE)
    where = f"{MODULE}.HttpToolsProtocol"
    status_lines = attribute(module, "STATUS_LINE", MODULE)
    if not isinstance(status_lines, dict) or not isinstance(status_lines.get(201), bytes):
        raise Missing(f"{MODULE}.STATUS_LINE is not a table of status lines")
    attribute(module, "HEADER_RE", MODULE)
    attribute(module, "HEADER_VALUE_RE", MODULE)
    for name in ("on_message_begin", "on_url", "on_header", "on_headers_complete", "on_body",
                 "on_message_complete", "on_response_complete", "connection_lost", "shutdown"):
        method(base, name, where)
    method(base, "_start_asgi_task", where, ("cycle", "app"))
    uses(base.__init__, ["server_state", "flow", "transport", "pipeline", "cycle", "root_path",
                         "limit_concurrency", "expect_100_continue", "config"], f"{where}.__init__")
    uses(base.on_message_begin, ["url", "headers", "scope"], f"{where}.on_message_begin")
    uses(base.on_header, ["lower", "headers", "expect_100_continue"], f"{where}.on_header")
    uses(base.on_headers_complete, ["cycle", "response_complete", "pipeline", "appendleft", "pause_reading",
                                    "_start_asgi_task"], f"{where}.on_headers_complete")
    uses(base.on_body, ["cycle", "body", "message_event", "response_complete"], f"{where}.on_body")
    uses(base.on_message_complete, ["cycle", "more_body", "message_event", "response_complete"],
         f"{where}.on_message_complete")
    uses(base.connection_lost, ["cycle", "response_complete", "disconnected", "message_event"],
         f"{where}.connection_lost")
    uses(base.shutdown, ["cycle", "response_complete", "keep_alive"], f"{where}.shutdown")
    uses(base._start_asgi_task, ["run_asgi", "tasks"], f"{where}._start_asgi_task")
    uses(base.on_response_complete, ["pipeline", "_start_asgi_task", "timeout_keep_alive_task"],
         f"{where}.on_response_complete")
    cycle = attribute(module, "RequestResponseCycle", MODULE)
    # What the cycle's send does for a whole response, which _DirectCycle.write does in one write.
    uses(cycle.send, ["default_headers", "STATUS_LINE", "HEADER_RE", "HEADER_VALUE_RE", "keep_alive",
                      "write_paused", "drain", "on_response", "message_event"], f"{MODULE}.RequestResponseCycle.send")
    flow = attribute(importlib.import_module("uvicorn.protocols.http.flow_control"), "FlowControl",
                     "uvicorn.protocols.http.flow_control")
    for name in ("drain", "resume_reading", "pause_reading"):
        method(flow, name, "FlowControl")
    uses(flow.__init__, ["write_paused"], "FlowControl.__init__")


class _DirectCycle:
    """What uvicorn's protocol reads of a ``RequestResponseCycle``, for a request the hub answers itself."""

    __slots__ = ("protocol", "direct", "admitted", "scope", "body", "more_body", "message_event",
                 "response_complete", "disconnected", "keep_alive")

    def __init__(self, protocol: Any, direct: Any, admitted: Any, keep_alive: bool) -> None:
        self.protocol = protocol
        self.direct = direct
        self.admitted = admitted
        self.scope = protocol.scope
        self.body = bytearray()
        self.more_body = True
        self.message_event = LightEvent()
        self.response_complete = False
        self.disconnected = False
        self.keep_alive = keep_alive

    async def run_asgi(self, app: Any) -> None:
        # uvicorn's run_asgi, with the hub's answer in place of the application.
        started = False
        try:
            protocol = self.protocol
            while self.more_body and not self.disconnected:
                protocol.flow.resume_reading()
                await self.message_event.wait()
                self.message_event.clear()
            body = None if self.disconnected else self.body
            status, headers, content = await self.direct.answer(self.admitted, body, self.scope)
            started = True
            await self.write(status, headers, content)
        except BaseException as exc:
            logger.error("Exception in ASGI application\n", exc_info=exc)
            if not started and not self.disconnected:
                await self.write(500, [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"21"),
                                       (b"connection", b"close")], b"Internal Server Error")
            else:
                self.protocol.transport.close()

    async def write(self, status: int, headers: list[tuple[bytes, bytes]], content: bytes) -> None:
        """What ``RequestResponseCycle.send`` writes for ``http.response.start`` and one whole body, at once."""
        protocol = self.protocol
        if protocol.flow.write_paused and not self.disconnected:
            await protocol.flow.drain()
        if self.disconnected:
            return
        defaults = _default_headers(protocol.server_state.default_headers)
        if defaults is None:
            raise RuntimeError("The server's default headers changed to ones the direct path leaves to uvicorn.")
        parts = [_STATUS_LINE[status], defaults]
        length = None
        has_connection_close = False
        for name, value in headers:
            if _HEADER_RE.search(name):
                raise RuntimeError("Invalid HTTP header name.")
            if _HEADER_VALUE_RE.search(value):
                raise RuntimeError("Invalid HTTP header value.")
            name = name.lower()
            if name == b"content-length" and length is None:
                length = int(value.decode())
            elif name == b"connection" and b"close" in [token.lower().strip() for token in value.split(b",")]:
                self.keep_alive = False
                has_connection_close = True
            parts += [name, b": ", value, b"\r\n"]
        if length != len(content):
            # uvicorn refuses a body that does not match its Content-Length, or sends it chunked
            # when there is none; the hub's JSON answers always carry theirs.
            raise RuntimeError("Response content does not match its Content-Length")
        if not self.keep_alive and not has_connection_close:
            parts.append(b"connection: close\r\n")
        parts += [b"\r\n", content]
        protocol.transport.write(b"".join(parts))
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            protocol.transport.close()
        protocol.on_response_complete()


def _default_headers(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The server's default headers (``date``, ``server``) as uvicorn writes them before the app's.

    Checked and joined once per list (uvicorn's server makes a new one each second,
    with the date). None when one would change how uvicorn answers (a configured
    ``connection``, ``content-length`` or ``transfer-encoding``, or a header uvicorn
    refuses): such a server's requests are left to uvicorn.
    """
    global _defaults
    if _defaults[0] is not headers:
        parts: list[bytes] = []
        plain = True
        for name, value in headers:
            lowered = name.lower()
            if (_HEADER_RE.search(name) or _HEADER_VALUE_RE.search(value)
                    or lowered in (b"connection", b"content-length", b"transfer-encoding")):
                plain = False
                break
            parts += [lowered, b": ", value, b"\r\n"]
        _defaults = (headers, b"".join(parts) if plain else None)
    return _defaults[1]


_defaults: tuple[Any, bytes | None] = (None, b"")


def with_direct_publish(base: type) -> type:
    """``base`` (uvicorn's httptools protocol or a subclass) answering ``POST /api/publish`` without ASGI."""
    global _STATUS_LINE, _HEADER_RE, _HEADER_VALUE_RE
    module = _module()
    _STATUS_LINE, _HEADER_RE, _HEADER_VALUE_RE = module.STATUS_LINE, module.HEADER_RE, module.HEADER_VALUE_RE

    class DirectPublishProtocol(base):  # type: ignore[misc]
        """uvicorn's httptools protocol, answering ``POST /api/publish`` without ASGI."""

        def on_headers_complete(self) -> None:
            cycle = self._hub_direct_cycle()
            if cycle is None:
                super().on_headers_complete()
                return
            # uvicorn's own steps for a request it serves, with the hub's cycle.
            protocol: Any = self
            existing = protocol.cycle
            protocol.cycle = cycle
            if existing is None or existing.response_complete:
                protocol._start_asgi_task(cycle, None)
            else:
                protocol.flow.pause_reading()
                protocol.pipeline.appendleft((cycle, None))

        def _hub_direct_cycle(self) -> _DirectCycle | None:
            direct = _direct_of(self.config)
            if direct is None or self.url != direct.path or self.root_path or self.limit_concurrency is not None:
                return None
            parser = self.parser
            if parser.get_method() != b"POST" or parser.get_http_version() != "1.1" or parser.should_upgrade():
                return None
            if self.expect_100_continue or _default_headers(self.server_state.default_headers) is None:
                return None
            admitted = direct.admit(self.headers)
            if admitted is None:
                return None
            scope = self.scope
            # What uvicorn puts in the scope for this URL (no query, no escapes), for the error handlers.
            scope["method"] = "POST"
            scope["path"] = "/api/publish"
            scope["raw_path"] = direct.path
            scope["query_string"] = b""
            return _DirectCycle(self, direct, admitted, parser.should_keep_alive())

    return DirectPublishProtocol


# uvicorn's status lines and header checks, bound with the class.
_STATUS_LINE: Any = None
_HEADER_RE: Any = None
_HEADER_VALUE_RE: Any = None


def _direct_of(config: Any) -> Any:
    """The app's :class:`~hub.publish_fast.DirectPublish`, found once per uvicorn config."""
    try:
        return config.hub_direct
    except AttributeError:
        pass
    app = getattr(config, "app", None)
    fast_path, hub = getattr(app, "fast_path", None), getattr(app, "hub", None)
    direct = fast_path.direct(hub) if fast_path is not None and hub is not None else None
    config.hub_direct = direct
    return direct


__all__ = ["NAME", "check", "with_direct_publish"]
