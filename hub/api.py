"""The core's HTTP API: publish (in :mod:`hub.publish_api`), health, metrics and the OpenAPI description.

:class:`JSONResponse` and :func:`read_json` live in :mod:`hub.httpjson` and are
imported from here by older code (and from ``hub`` by plugins).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .httpjson import JSONResponse, is_json_media_type, read_json
from .publish_api import publish_routes
from .types import Hub


def core_routes(hub: Hub, openapi: dict[str, Any]) -> list[Route]:
    async def health(request: Request) -> Response:
        """The hub's health: database and broker state."""
        report = await hub.health()
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    async def metrics(request: Request) -> Response:
        """Prometheus metrics in the text exposition format."""
        return Response(hub.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def openapi_json(request: Request) -> Response:
        """This OpenAPI description."""
        return JSONResponse(openapi)

    return [
        *publish_routes(hub),
        Route("/api/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]


__all__ = ["JSONResponse", "core_routes", "is_json_media_type", "read_json"]
