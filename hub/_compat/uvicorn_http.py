"""uvicorn's HTTP protocol, with cheaper addresses and the websocket upgrade handed over parsed.

Part of the optimisation ``light_ws_handshake`` (see :mod:`hub._compat.uvicorn`).

- Each connection's addresses: uvicorn asks the transport for its ``socket``
  and calls ``getsockname()`` and ``getpeername()`` on it. With uvloop that
  ``socket`` is a ``PseudoSocket`` built on first use, and each of the two
  calls builds a Python ``socket.socket`` on the descriptor and detaches it
  again (``uvloop/pseudosock.pyx``): about 4 % of a connect's server time,
  while uvloop's transport already read both addresses when the connection was
  made (``get_extra_info("sockname")``, ``"peername"``, plain tuples).
  :func:`local_addr` and :func:`remote_addr` give uvicorn's result from those,
  for IPv4 (whose text form both produce alike); anything else goes to
  uvicorn's own functions. uvicorn's websocket protocol asks again for the
  same transport (answered from uvloop's caches, so cheaply).
- The upgrade: uvicorn writes the parsed request out as bytes for its
  websocket protocol to parse again; :class:`HubHttpToolsProtocol` hands the
  light websocket protocol the parsed request (``hub_upgrade``) instead.

:func:`protocol_class` puts uvicorn's httptools protocol together with the
HTTP side's optimisations that are on: this one, and ``direct_publish``
(:func:`hub._compat.http_fast.with_direct_publish`). ``hub serve`` passes it as
uvicorn's ``http`` (:func:`hub._compat.http_protocol`), or uvicorn's own choice
(``"auto"``) when both are off.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from .handshake import same_code

MODULE = "uvicorn.protocols.http.httptools_impl"


def local_addr(transport: asyncio.BaseTransport) -> tuple[str, int | None] | None:
    """``uvicorn.protocols.utils.get_local_addr``, from the address the transport holds."""
    info = transport.get_extra_info("sockname")
    if type(info) is tuple and len(info) == 2:
        return (str(info[0]), int(info[1]))
    from uvicorn.protocols.utils import get_local_addr

    return get_local_addr(transport)  # type: ignore[arg-type]


def remote_addr(transport: asyncio.BaseTransport) -> tuple[str, int] | None:
    """``uvicorn.protocols.utils.get_remote_addr``, from the address the transport holds."""
    info = transport.get_extra_info("peername")
    if type(info) is tuple and len(info) == 2:
        return (str(info[0]), int(info[1]))
    from uvicorn.protocols.utils import get_remote_addr

    return get_remote_addr(transport)  # type: ignore[arg-type]


def check() -> None:
    """The two methods :class:`HubHttpToolsProtocol` copies are still uvicorn's."""
    base = importlib.import_module(MODULE).HttpToolsProtocol
    where = f"{MODULE}.HttpToolsProtocol"
    same_code(base.connection_made, [
        "FlowControl", "TRACE_LOG_LEVEL", "add", "client", "connections", "flow", "get_local_addr",
        "get_remote_addr", "is_ssl", "level", "log", "logger", "scheme", "server", "transport",
    ], f"{where}.connection_made")
    same_code(base.handle_websocket_upgrade, [
        "TRACE_LOG_LEVEL", "app_state", "append", "client", "config", "connection_made", "connections",
        "data_received", "discard", "encode", "join", "level", "log", "logger", "scope", "server_state",
        "set_protocol", "transport", "url", "ws_protocol_class",
    ], f"{where}.handle_websocket_upgrade")


def with_light_upgrade(base: type) -> type:
    """``base`` (uvicorn's httptools protocol or a subclass) with its addresses from the transport, its upgrades handed over parsed."""
    module = importlib.import_module(MODULE)
    from uvicorn.logging import TRACE_LOG_LEVEL

    FlowControl = module.FlowControl
    is_ssl = module.is_ssl

    class LightUpgradeProtocol(base):  # type: ignore[misc]
        """uvicorn's httptools protocol; its addresses from the transport, its upgrades handed over parsed."""

        def connection_made(self, transport: Any) -> None:
            # uvicorn's connection_made with local_addr and remote_addr.
            self.connections.add(self)
            self.transport = transport
            self.flow = FlowControl(transport)
            self.server = local_addr(transport)
            self.client = remote_addr(transport)
            self.scheme = "https" if is_ssl(transport) else "http"
            if self.logger.level <= TRACE_LOG_LEVEL:
                prefix = "%s:%d - " % self.client if self.client else ""
                self.logger.log(TRACE_LOG_LEVEL, "%sHTTP connection made", prefix)

        def handle_websocket_upgrade(self) -> None:
            upgrade = getattr(self.ws_protocol_class, "hub_upgrade", None)
            if upgrade is None:  # uvicorn's own websocket protocol: its own upgrade
                super().handle_websocket_upgrade()
                return
            if self.logger.level <= TRACE_LOG_LEVEL:
                prefix = "%s:%d - " % self.client if self.client else ""
                self.logger.log(TRACE_LOG_LEVEL, "%sUpgrading to WebSocket", prefix)
            self.connections.discard(self)
            protocol = self.ws_protocol_class(
                config=self.config, server_state=self.server_state, app_state=self.app_state
            )
            protocol.hub_upgrade(
                self.transport, self.server, self.client, self.scheme == "https",
                self.scope["method"], self.url, self.scope["headers"],
            )
            self.transport.set_protocol(protocol)

    return LightUpgradeProtocol


def protocol_class(direct_publish: bool, light_upgrade: bool) -> type | None:
    """uvicorn's httptools protocol with the HTTP side's optimisations that are on; None when none is.

    Built on first use (uvicorn imports its protocols lazily too), once per choice.
    """
    key = (direct_publish, light_upgrade)
    if not any(key):
        return None
    if key not in _protocols:
        from .http_fast import with_direct_publish

        chosen: type = importlib.import_module(MODULE).HttpToolsProtocol
        if light_upgrade:
            chosen = with_light_upgrade(chosen)
        if direct_publish:
            chosen = with_direct_publish(chosen)
        _protocols[key] = type("HubHttpToolsProtocol", (chosen,), {"__doc__": "uvicorn's httptools protocol, the hub's way."})
    return _protocols[key]


_protocols: dict[tuple[bool, bool], type] = {}
