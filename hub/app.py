"""The app factory: one ASGI app serving the Socket.IO server and the HTTP API on one port.

The composition root: the one module that wires the parts together (the hub,
its plugins, the socket server and its manager, the HTTP routes); no module of
the core imports it except the command line.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import socketio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__, default_plugins
from ._compat import one_write_class
from .admin import admin_routes
from .api import JSONResponse, core_routes
from .config import Settings, load_settings
from .console import console_routes
from .database import unavailable_reason
from .errors import HubError, Unavailable, error_body
from .eventlog import open_event_log
from .hub import Hub
from .openapi import build_openapi
from .origins import OriginPolicy
from .plugin_schema import plugin_branches
from .plugins import PluginError, call_each, find_plugins, register_plugins
from .publish_fast import PATHS, PublishFastPath
from .server import build_socket_server

logger = logging.getLogger("hub")
STATIC_DIR = Path(__file__).parent / "static"


class HubApp(socketio.ASGIApp):  # type: ignore[misc]
    """The ASGI app; ``.hub`` is the running :class:`Hub`."""

    hub: Hub
    #: The publish routes' requests served past the middleware stack (hub/publish_fast.py).
    fast_path: PublishFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.fast_path.match(scope) if self.fast_path is not None else None
        if endpoint is not None:
            assert self.fast_path is not None
            await self.fast_path.serve(endpoint, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> HubApp:
    """Build the hub from ``settings`` (default: the environment) and its enabled plugins."""
    settings = settings or load_settings()
    plugins = find_plugins(settings.plugins, defaults=[("hub.core", default_plugins)])
    # The migration folders come from hooks that need no hub (static in a class plugin).
    branches = plugin_branches(register_plugins(plugins, None))
    hub = Hub(settings, plugins, open_event_log(settings.resolved_database_url, branches))
    origins = OriginPolicy(settings)
    hub.sio = build_socket_server(hub, settings, origins)

    openapi: dict[str, Any] = {}
    routes: list[BaseRoute] = [*core_routes(hub, openapi), *admin_routes(hub), *console_routes(hub, hub.pm)]
    for plugin, returned in call_each(hub.pm, "hub_routes", hub=hub):
        plugin_routes = list(returned)
        routes.extend(_contract_routes(plugin, plugin_routes, routes))
        own = [route for route in plugin_routes if not _is_contract_route(route)]
        routes.append(Mount(f"/api/{plugin}", routes=own, name=plugin))
    routes.append(Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"))
    openapi.update(build_openapi(routes, "hub", __version__))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        logger.info("hub ready: plugins %s", ", ".join(hub.plugins) or "none")
        try:
            yield
        finally:
            await hub.stop()

    async def hub_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HubError)
        hub.metrics.http_errors.labels(exc.code).inc()
        return JSONResponse(error_body(exc), status_code=exc.status)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "invalid_message", 413: "too_large"}.get(exc.status_code, "invalid_message")
        return JSONResponse({"error": {"code": code, "message": str(exc.detail)}}, status_code=exc.status_code)

    async def unexpected_error(request: Request, exc: Exception) -> Response:
        reason = unavailable_reason(exc)
        if reason is not None:
            # The database's state, not a bug: 503 `unavailable`, which a client retries.
            logger.warning("%s %s: the database is %s (%s)", request.method, request.url.path, reason, exc)
            return await hub_error(request, Unavailable(f"The database is {reason}; retry shortly."))
        logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        hub.metrics.http_errors.labels("internal").inc()
        return JSONResponse(error_body(exc), status_code=500)

    starlette = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HubError: hub_error, HTTPException: http_error, Exception: unexpected_error},
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origin_regex=".*" if origins.allow_any or settings.dev else None,
                allow_origins=sorted(origins.allowed),
                allow_methods=["GET", "POST", "PUT", "DELETE"],
                allow_headers=["authorization", "content-type"],
            ),
            Middleware(AnswerUnexpectedErrors, handler=unexpected_error),
        ],
    )
    app = HubApp(hub.sio, other_asgi_app=starlette, socketio_path="socket.io")
    app.hub = hub
    endpoints = {route.path: route.endpoint for route in routes if isinstance(route, Route) and route.path in PATHS}
    app.fast_path = PublishFastPath(endpoints, hub_error, unexpected_error, one_write_class(hub.sio))
    return app


class AnswerUnexpectedErrors:
    """Answers an unexpected exception of an HTTP route with ``handler``'s response, and no more.

    Starlette's handler for ``Exception`` runs in its outermost middleware, which
    sends the response and then raises the exception again, so that uvicorn logs
    it and closes the keep-alive connection: the client's next request on it is
    reset. Answered here, inside, the connection stays open. An exception after
    the response started is left to propagate (there is nothing left to answer).
    """

    def __init__(self, app: ASGIApp, handler: Callable[[Request, Exception], Awaitable[Response]]) -> None:
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if started:
                raise
            response = await self.handler(Request(scope, receive), exc)
            await response(scope, receive, send)


def _is_contract_route(route: BaseRoute) -> bool:
    return isinstance(route, Route) and route.path.startswith("/api/")


def _contract_routes(plugin: str, plugin_routes: list[BaseRoute], taken: list[BaseRoute]) -> list[Route]:
    """A plugin's routes at absolute ``/api/...`` paths that the contract gives it (``POST /api/uploads``).

    They may not shadow a core route, the admin routes or another plugin's prefix.
    """
    claimed: list[Route] = []
    for route in plugin_routes:
        if not _is_contract_route(route):
            continue
        assert isinstance(route, Route)
        clash = route.path.startswith("/api/admin/") or any(
            (isinstance(other, Route) and other.path == route.path)
            or (isinstance(other, Mount) and (route.path + "/").startswith(other.path + "/"))
            for other in taken
        )
        if clash:
            raise PluginError(f"plugin {plugin!r}: the route {route.path} is already taken")
        claimed.append(route)
    return claimed


__all__ = ["HubApp", "PluginError", "create_app"]
