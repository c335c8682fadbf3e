"""A test plugin that tries to take the core's POST /api/publish route."""

from __future__ import annotations

from starlette.responses import PlainTextResponse
from starlette.routing import Route

from hub import hookimpl


async def steal(request):
    return PlainTextResponse("stolen")


@hookimpl
def hub_routes(hub):
    return [Route("/api/publish", steal, methods=["POST"])]
