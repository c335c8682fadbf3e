"""JSON over HTTP for the core's routes and the plugins': the response class and the body reader."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .errors import InvalidMessage, TooLarge, UnsupportedMediaType
from .jsoncodec import JSONDecodeError, decode_json, encode_json


class JSONResponse(Response):
    """A response whose content is encoded with the hub's JSON codec (orjson)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return encode_json(content)


async def _read_body(request: Request, limit: int) -> bytes:
    """The request's body, ``too_large`` (413) once more than ``limit`` bytes arrived."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        # Joined once at the end: adding bytes to bytes copies the whole body for each chunk.
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"Bodies are limited to {limit} bytes.")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


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
    check_media_type(request.headers.get("content-type"))
    return json_object(await _read_body(request, limit))


def check_media_type(content_type: str | None) -> None:
    """``invalid_message`` with status 415 unless ``content_type`` is JSON (see :func:`read_json`)."""
    if not is_json_media_type(content_type):
        raise UnsupportedMediaType("The body must be sent as application/json.")


def json_object(body: bytes) -> dict[str, Any]:
    """The JSON object a body holds; ``invalid_message`` (400) if it holds anything else."""
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
