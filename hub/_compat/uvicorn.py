"""uvicorn's websocket protocol, lighter per connection (optimisation ``light_ws_protocol``).

uvicorn's sans-I/O websocket protocol (``websockets-sansio``) keeps, for each
connection's whole life, an ``asyncio.Queue`` of received messages (four
deques and an event, about 3 KB, for a queue that is nearly always empty) and
the parsed handshake request and response with their headers (about 4 KB),
which nothing reads once the connection is accepted.
:class:`HubWebSocketProtocol` uses :class:`hub.eio.LightQueue` and lets the
handshake go after the accept (the request websockets' parser keeps, the
scope's headers), and its ``writable`` flag is a :class:`hub.eio.LightEvent`
(``asyncio.Event`` allocates a deque up front). Nothing on the wire changes.

Both are uvicorn's private attributes (``queue``, ``request``, ``response``,
``handshake_complete``); :func:`check` looks for them in the protocol's code
at start-up, and :func:`websocket_protocol` gives ``hub serve`` uvicorn's own
choice (``"auto"``) when they are gone.

On top, optimisation ``light_ws_handshake``: the opening handshake of a
well-formed request answered without websockets' parser and ``Response``
(:mod:`hub._compat.handshake`), the scope built from the request uvicorn
parsed, and the connection's addresses read from the transport
(:mod:`hub._compat.uvicorn_http`). A request it does not take (any bad one,
one with subprotocols, one offering extensions with compression on) goes to
websockets as before, which answers it as before. Its check
(:func:`check_handshake`) makes sure the code it copies from websockets and
uvicorn is still theirs; when it fails, a WARNING says so at start-up and
the protocol keeps websockets' handshake.
"""

from __future__ import annotations

import logging
from typing import Any

from ..eio import LightEvent, LightQueue
from .checks import attribute, method, uses

NAME = "light_ws_protocol"
HANDSHAKE = "light_ws_handshake"
MODULE = "uvicorn.protocols.websockets.websockets_sansio_impl"


def _base() -> Any:
    import importlib

    return attribute(importlib.import_module(MODULE), "WebSocketsSansIOProtocol", MODULE)


def check() -> None:
    """What :class:`HubWebSocketProtocol` relies on."""
    import importlib

    base = _base()
    where = f"{MODULE}.WebSocketsSansIOProtocol"
    uses(base.__init__, ["queue", "handshake_complete"], f"{where}.__init__")
    uses(base.handle_connect, ["request", "response"], f"{where}.handle_connect")
    uses(base.receive, ["queue"], f"{where}.receive")
    method(base, "send", where, ("message",), coroutine=True)
    uses(base.__init__, ["writable", "conn"], f"{where}.__init__")
    uses(base.run_asgi, ["app", "scope", "receive", "send", "ClientDisconnected", "send_500_response",
                         "handshake_complete", "close_timer", "transport"], f"{where}.run_asgi")
    attribute(importlib.import_module("uvicorn.protocols.utils"), "ClientDisconnected", "uvicorn.protocols.utils")
    uses(base.send_receive_event_to_app, ["queue", "put_nowait"], f"{where}.send_receive_event_to_app")
    uses(base.connection_lost, ["queue", "put_nowait"], f"{where}.connection_lost")
    uses(base.receive, ["read_paused", "resume_reading", "transport"], f"{where}.receive")
    for name in ("pause_writing", "resume_writing", "connection_lost"):
        uses(getattr(base, name), ["writable"], f"{where}.{name}")
    uses(base.send, ["writable"], f"{where}.send")
    uses(base.handle_connect, ["scope", "headers"], f"{where}.handle_connect")
    from websockets import protocol, server

    method(protocol.Protocol, "parse", "websockets.protocol.Protocol")
    uses(protocol.Protocol.receive_data, ["reader", "parser"], "websockets.protocol.Protocol.receive_data")
    uses(server.ServerProtocol.parse, ["Request", "parse", "CONNECTING"], "websockets.server.ServerProtocol.parse")
    attribute(attribute(protocol, "StreamReader", "websockets.protocol")(), "buffer", "websockets StreamReader")


def check_handshake() -> None:
    """The code :func:`_light_handshake`'s methods copy from websockets and uvicorn is still theirs."""
    from websockets import datastructures, http11, protocol, server, utils

    from . import uvicorn_http
    from .handshake import same_code

    where = "websockets.server.ServerProtocol"
    proto = server.ServerProtocol
    same_code(proto.accept, [
        "BAD_REQUEST", "BaseException", "Exception", "FORBIDDEN", "HTTPStatus", "HTTP_VERSION_NOT_SUPPORTED",
        "Headers", "INTERNAL_SERVER_ERROR", "InvalidHandshake", "InvalidMethod", "InvalidOrigin", "InvalidProtocol",
        "InvalidUpgrade", "METHOD_NOT_ALLOWED", "Response", "UPGRADE_REQUIRED", "__cause__", "_exception",
        "accept_called", "cast", "debug", "email", "error", "formatdate", "handshake_exc", "headers", "http",
        "logger", "process_request", "reject", "utils"], f"{where}.accept")
    same_code(proto.process_request, [
        "Error", "InvalidHeader", "InvalidHeaderValue", "InvalidMethod", "InvalidProtocol", "InvalidUpgrade",
        "KeyError", "MultipleValuesError", "accept_key", "any", "b64decode", "base64", "binascii", "encode",
        "extensions", "get_all", "headers", "join", "len", "lower", "method", "origin", "parse_connection",
        "parse_upgrade", "process_extensions", "process_origin", "process_subprotocol", "protocol", "subprotocol",
        "sum"], f"{where}.process_request")
    same_code(proto.process_origin, ["InvalidHeader", "InvalidOrigin", "MultipleValuesError", "Origin", "Pattern",
                                     "cast", "fullmatch", "get", "isinstance", "origins", "re"],
              f"{where}.process_origin")
    same_code(proto.process_extensions, ["NegotiationError", "append", "available_extensions", "build_extension",
                                         "get_all", "name", "parse_extension", "process_request_params", "sum"],
              f"{where}.process_extensions")
    same_code(proto.process_subprotocol, ["get_all", "parse_subprotocol", "select_subprotocol", "sum"],
              f"{where}.process_subprotocol")
    same_code(proto.send_response, [
        "CONNECTING", "OPEN", "accept_called", "append", "body", "debug", "discard", "headers", "info", "len",
        "logger", "next", "parser", "raw_items", "reason_phrase", "send_eof", "serialize", "state", "status_code",
        "writes"], f"{where}.send_response")
    same_code(proto.parse, [
        "CONNECTING", "Exception", "HTTPStatus", "HeaderLineTooLong", "InvalidMessage",
        "REQUEST_HEADER_FIELDS_TOO_LARGE", "REQUEST_URI_TOO_LONG", "Request", "RequestLineTooLong",
        "TooManyHeaders", "__cause__", "append", "debug", "discard", "events", "handshake_exc", "headers", "http",
        "logger", "method", "next", "parse", "parser", "path", "protocol", "raw_items", "read_line", "reader",
        "reject", "send_eof", "send_response", "state", "super"], f"{where}.parse")
    uses(proto.__init__, ["origins", "available_extensions", "available_subprotocols"], f"{where}.__init__")
    same_code(http11.Request.parse, ["EOFError", "NotImplementedError", "RequestLineTooLong", "ValueError", "d",
                                     "decode", "get_all", "parse_headers", "parse_line", "set", "split"],
              "websockets.http11.Request.parse")
    same_code(http11.parse_headers, [
        "EOFError", "HeaderLineTooLong", "Headers", "MAX_NUM_HEADERS", "TooManyHeaders", "ValueError", "_token_re",
        "_value_re", "d", "decode", "fullmatch", "parse_line", "range", "set_insecure", "split", "strip"],
        "websockets.http11.parse_headers")
    same_code(http11.parse_line, ["EOFError", "MAX_LINE_LENGTH", "endswith"], "websockets.http11.parse_line")
    same_code(http11.Response.serialize, ["encode", "headers", "reason_phrase", "serialize", "status_code", "body"],
              "websockets.http11.Response.serialize")
    same_code(datastructures.Headers.__str__, ["join", "_list"], "websockets.datastructures.Headers.__str__")
    same_code(datastructures.Headers.__setitem__, ["InvalidHeaderValue", "_dict", "_list", "append", "lower",
                                                   "is_valid_header_value", "setdefault", "str"],
              "websockets.datastructures.Headers.__setitem__")
    for name in ("MAX_LINE_LENGTH", "MAX_NUM_HEADERS"):
        attribute(http11, name, "websockets.http11")
    attribute(datastructures, "is_valid_header_value", "websockets.datastructures")
    attribute(utils, "accept_key", "websockets.utils")
    attribute(protocol, "OPEN", "websockets.protocol")
    uses(protocol.Protocol.__init__, ["debug", "parser", "reader", "logger"], "websockets.protocol.Protocol.__init__")
    base = _base()
    where = f"{MODULE}.WebSocketsSansIOProtocol"
    same_code(base.connection_made, [
        "TRACE_LOG_LEVEL", "Transport", "add", "cast", "client", "connections", "get_local_addr", "get_remote_addr",
        "is_ssl", "level", "log", "logger", "scheme", "server", "transport"], f"{where}.connection_made")
    same_code(base.handle_connect, [
        "accept", "add", "add_done_callback", "app_state", "asgi_version", "client", "close", "close_sent", "conn",
        "copy", "create_task", "data_to_send", "encode", "extend", "get_all", "handshake_complete",
        "handshake_initiated", "headers", "join", "loop", "on_task_complete", "partition", "path", "put_nowait",
        "queue", "raw_items", "request", "response", "root_path", "run_asgi", "scheme", "scope", "send_response",
        "server", "split", "status_code", "strip", "tasks", "transport", "unquote", "websockets_version", "write"],
        f"{where}.handle_connect")
    same_code(base.send, [
        "ClientDisconnected", "FORBIDDEN", "HTTPStatus", "Headers", "InvalidState", "Response", "RuntimeError",
        "STATUS_PHRASES", "append", "call_later", "close", "close_sent", "close_timeout", "close_timer", "conn",
        "data_to_send", "decode", "default_headers", "disconnected", "email", "encode", "formatdate", "get",
        "get_client_addr", "get_path_with_query_string", "handshake_complete", "headers", "info",
        "initial_response", "is_closing", "join", "len", "list", "logger", "loop", "lower", "put_nowait", "queue",
        "read_paused", "reject", "response", "resume_reading", "scope", "send_binary", "send_close",
        "send_response", "send_text", "setdefault", "start_keepalive", "str", "transport", "update", "utils",
        "wait", "writable", "write"], f"{where}.send")
    uses(base.__init__, ["default_headers", "handshake_initiated", "initial_response", "conn", "root_path",
                         "asgi_version", "app_state", "tasks"], f"{where}.__init__")
    uvicorn_http.check()


def _forget_handshake(protocol: Any) -> None:
    """Let go of what only the handshake needed, once the accept is sent.

    websockets' server parser is a generator that keeps the parsed request in
    its frame for the connection's life: it is replaced by the frame parser it
    was running (``Protocol.parse``), started afresh. Nothing of the next frame
    was read yet (a client sends none before the accept), which the check of
    the reader's buffer makes sure of. The scope's headers were translated for
    the application before the accept and are not read again.
    """
    from websockets.protocol import Protocol

    protocol.request = None
    protocol.response = None
    scope = getattr(protocol, "scope", None)
    if isinstance(scope, dict):
        scope["headers"] = []
    conn = protocol.conn
    if not conn.reader.buffer:
        conn.parser = Protocol.parse(conn)
        next(conn.parser)


def protocol_class(handshake: bool = False) -> type:
    """:class:`HubWebSocketProtocol`, with ``light_ws_handshake`` or not; built on first use, once each.

    (uvicorn imports its protocols lazily too.)
    """
    global _protocol
    if _protocol is None:
        base = _base()

        class HubWebSocketProtocol(base):  # type: ignore[misc,valid-type]
            """uvicorn's ``websockets-sansio`` protocol with a lazily allocated receive queue."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.queue: Any = LightQueue()
                self.writable: Any = LightEvent()
                self.writable.set()

            #: Set by the application before it returns from a websocket it goes on serving
            #: without a task (see :func:`hub._compat.wsloop.serve`): the connection stays open.
            hub_detached = False

            def hub_detach(self) -> None:
                """The application returns now and takes what the connection receives from ``queue``."""
                self.hub_detached = True

            async def run_asgi(self) -> None:
                # uvicorn's run_asgi, leaving a detached connection open when the application returns.
                from uvicorn.protocols.utils import ClientDisconnected

                try:
                    result = await self.app(self.scope, self.receive, self.send)
                except ClientDisconnected:
                    pass
                except BaseException:
                    self.logger.exception("Exception in ASGI application\n")
                    self.send_500_response()
                else:
                    if not self.handshake_complete:
                        self.logger.error("ASGI callable returned without completing handshake.")
                        self.send_500_response()
                    elif result is not None:
                        self.logger.error("ASGI callable should return None, but returned '%s'.", result)
                if self.close_timer is None and not self.hub_detached:
                    self.transport.close()

            async def send(self, message: Any) -> None:
                await super().send(message)
                if message.get("type") == "websocket.accept" and self.handshake_complete:
                    _forget_handshake(self)

        _protocol = HubWebSocketProtocol
    if not handshake:
        return _protocol
    global _handshaking
    if _handshaking is None:
        _handshaking = _light_handshake(_protocol)
    return _handshaking


def _light_handshake(light: Any) -> type:
    """``light`` answering the opening handshake itself where it can (``light_ws_handshake``)."""
    from urllib.parse import unquote

    from uvicorn.logging import TRACE_LOG_LEVEL
    from uvicorn.protocols.utils import ClientDisconnected, get_client_addr, get_path_with_query_string, is_ssl
    from websockets.protocol import OPEN, Protocol

    from .handshake import accept_value, request_bytes, split_request, switching_protocols
    from .uvicorn_http import local_addr, remote_addr

    class HubWebSocketProtocol(light):  # type: ignore[misc]
        """The light protocol, with the handshake of a well-formed upgrade answered here."""

        #: Until the first bytes come: uvicorn's HTTP protocol hands over the upgrade request in one piece.
        hub_fresh = True
        #: ``Sec-WebSocket-Accept`` of a handshake taken here, until the 101 is written.
        hub_accept: str | None = None

        def connection_made(self, transport: Any) -> None:
            # The addresses read from the transport (see hub._compat.uvicorn_http).
            self.hub_open(transport, local_addr(transport), remote_addr(transport), is_ssl(transport))

        def hub_open(self, transport: Any, server: Any, client: Any, secure: bool) -> None:
            """uvicorn's connection_made, with the addresses given."""
            self.connections.add(self)
            self.transport = transport
            self.server = server
            self.client = client
            self.scheme = "wss" if secure else "ws"
            if self.logger.level <= TRACE_LOG_LEVEL:
                prefix = "%s:%d - " % self.client if self.client else ""
                self.logger.log(TRACE_LOG_LEVEL, "%sWebSocket connection made", prefix)

        def hub_upgrade(self, transport: Any, server: Any, client: Any, secure: bool, method: str, url: bytes,
                        headers: list[tuple[bytes, bytes]]) -> None:
            """connection_made and the request, from uvicorn's HTTP protocol that parsed it (no bytes rebuilt)."""
            self.hub_open(transport, server, client, secure)
            self.hub_fresh = False
            if not self.hub_handshake(method, url, headers):
                super().data_received(request_bytes(method, url, headers))

        def data_received(self, data: bytes) -> None:
            if self.hub_fresh:
                self.hub_fresh = False
                request = split_request(data)
                if request is not None and self.hub_handshake(*request):
                    return
            super().data_received(data)

        def hub_handshake(self, method: str, url: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
            """uvicorn's handle_connect for a request :func:`accept_value` takes; False leaves it to websockets."""
            conn = self.conn
            if conn.debug or conn.origins is not None or conn.available_subprotocols:
                return False  # websockets' own debug log lines, or checks the light path does not make
            accept = accept_value(method, url, headers, bool(conn.available_extensions))
            if accept is None:
                return False
            # websockets' server parser reads frames once it has the request; this one never reaches it.
            conn.parser = Protocol.parse(conn)
            next(conn.parser)
            self.hub_accept = accept
            self.request = None
            self.response = None
            self.handshake_initiated = True
            raw_path, _, query_string = url.partition(b"?")
            self.scope = {
                "type": "websocket",
                "asgi": {"version": self.asgi_version, "spec_version": "2.4"},
                "http_version": "1.1",
                "scheme": self.scheme,
                "server": self.server,
                "client": self.client,
                "root_path": self.root_path,
                "path": self.root_path + unquote(raw_path.decode("ascii")),
                "raw_path": self.root_path.encode("ascii") + raw_path,
                "query_string": query_string,
                "headers": headers,
                "subprotocols": [],
                "state": self.app_state.copy(),
                "extensions": {"websocket.http.response": {}},
            }
            self.queue.put_nowait({"type": "websocket.connect"})
            task = self.loop.create_task(self.run_asgi())
            task.add_done_callback(self.on_task_complete)
            self.tasks.add(task)
            return True

        async def send(self, message: Any) -> None:
            if self.hub_accept is not None and message.get("type") == "websocket.accept":
                await self.writable.wait()
                if self.disconnected:
                    raise ClientDisconnected()
                if not self.handshake_complete and self.initial_response is None:
                    self.hub_switch(message, self.hub_accept)
                    return
            await super().send(message)

        def hub_switch(self, message: Any, accept: str) -> None:
            """uvicorn's answer to ``websocket.accept``: the 101 websockets' response would be."""
            if self.logger.isEnabledFor(logging.INFO):  # uvicorn's line, its arguments built only when logged
                scope: Any = self.scope
                self.logger.info('%s - "WebSocket %s" [accepted]', get_client_addr(scope),
                                 get_path_with_query_string(scope))
            head = switching_protocols(
                accept, self.default_headers + list(message.get("headers", [])), message.get("subprotocol")
            )
            if not self.transport.is_closing():
                self.handshake_complete = True
                data = head.encode("iso-8859-1")
                conn = self.conn
                conn.state = OPEN
                conn.logger.info("connection open")
                if message.get("hub.hold_head"):
                    # The sender (fastpath.HubWebSocket) takes it in this same loop step and
                    # writes it with the session's OPEN frame: one write, one segment.
                    self.hub_head = data
                else:
                    self.transport.write(data)
                self.start_keepalive()
                self.hub_accept = None
                self.scope["headers"] = []  # as _forget_handshake: not read after the accept

    return HubWebSocketProtocol


_protocol: type | None = None
_handshaking: type | None = None


def websocket_protocol(enabled: bool, handshake: bool = False) -> type | str:
    """The ``ws`` argument of ``uvicorn.run``: the light protocol (with the light handshake), or uvicorn's own choice."""
    return protocol_class(handshake) if enabled else "auto"
