"""The core's HTTP API: publish, health, metrics and the OpenAPI description."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .auth import ADMIN, SERVICE
from .errors import InvalidMessage, TooLarge, UnsupportedMediaType
from .jsoncodec import JSONDecodeError, decode_json, encode_json
from .types import Hub
from .openapi import describe


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return encode_json(content)


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The request's JSON object body.

    ``too_large`` (413) past ``limit`` bytes; ``invalid_message`` with status 415
    unless the body is declared ``application/json`` (parameters such as
    ``charset`` allowed); ``invalid_message`` (400) if it is not a JSON object.
    Every JSON route of the core and of the plugins reads its body here, so
    they all answer alike.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"Bodies are limited to {limit} bytes.")
    if not is_json_media_type(request.headers.get("content-type")):
        raise UnsupportedMediaType("The body must be sent as application/json.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"Bodies are limited to {limit} bytes.")
    try:
        payload = decode_json(body)
    except JSONDecodeError:
        raise InvalidMessage("The body must be JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidMessage("The body must be a JSON object.")
    return payload


def is_json_media_type(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` header says JSON: ``application/json``, with any parameters."""
    return (content_type or "").partition(";")[0].strip().lower() == "application/json"


PUBLISH_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["topic", "type"],
                "properties": {
                    "topic": {"type": "string"},
                    "type": {"type": "string"},
                    "data": {"type": "object"},
                    "id": {"type": "string"},
                },
            }
        }
    },
}


def core_routes(hub: Hub, openapi: dict[str, Any]) -> list[Route]:
    @describe(requestBody=PUBLISH_BODY, responses={"201": {"description": "Published: {id, seq}."}})
    async def publish(request: Request) -> Response:
        """Publish an event to a topic (roles service or admin)."""
        principal = await hub.authenticate(request, roles=(SERVICE, ADMIN))
        body = await read_json(request, hub.settings.max_message_bytes)
        for name in ("topic", "type"):
            if not isinstance(body.get(name), str):
                raise InvalidMessage(f"'{name}' is required and must be a string.")
        if body.get("id") is not None and not isinstance(body["id"], str):
            raise InvalidMessage("'id' must be a string.")
        envelope = await hub.publish(
            body["topic"], body["type"], body.get("data"), id=body.get("id"), sender=principal.user
        )
        return JSONResponse({"id": envelope.id, "seq": envelope.seq}, status_code=201)

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
        Route("/api/publish", publish, methods=["POST"]),
        Route("/api/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]
