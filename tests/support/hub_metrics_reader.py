"""A test plugin that reads every plugin's figures through ``hub.metrics.read()``, importing none of them.

``GET /api/reader/figures?prefix=...`` (role admin): the metrics whose names
start with the prefix, as an analytics plugin would see them.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub import hookimpl


@hookimpl
def hub_routes(hub):
    async def figures(request: Request) -> Response:
        await hub.authenticate(request, roles=("admin",))
        families = hub.metrics.read(request.query_params.get("prefix", ""))
        return JSONResponse([
            {
                "name": family.name,
                "type": family.type,
                "help": family.help,
                "plugin": family.plugin,
                "main": family.value(),
                "samples": [{"name": s.name, "labels": dict(s.labels), "value": s.value} for s in family.samples],
            }
            for family in families
        ])

    return [Route("/figures", figures, methods=["GET"])]
