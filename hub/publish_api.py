"""Publishing over HTTP: ``POST /api/publish`` and ``POST /api/publish/batch`` (roles service, admin).

Both routes check each event with :func:`publish_event`, so an event of a batch
passes exactly the checks of a single publish and, when it fails, fails alone:
its place in the answer holds its error, the others are stored. The events of a
batch are handed to :meth:`Hub.publish` together, in order, before any is
awaited, so the event log's group commit takes them into its transactions as it
would take as many concurrent publishers, and numbers each topic's events in the
batch's order; a batch costs a few commits, not one per event.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .auth import ADMIN, SERVICE, Principal
from .database import unavailable_reason
from .errors import HubError, InvalidMessage, TooLarge, Unavailable, error_body
from .httpjson import JSONResponse, read_json
from .jsoncodec import encode_json
from .openapi import ERROR_SCHEMA, describe
from .types import Hub

logger = logging.getLogger("hub")

#: Events one ``POST /api/publish/batch`` may carry; more is refused whole with ``too_large`` (413).
MAX_BATCH_EVENTS = 1000
#: Bytes a batch's body may have (or ``HUB_MAX_MESSAGE_BYTES`` if larger); each event is held to
#: ``HUB_MAX_MESSAGE_BYTES`` on its own, as a single publish is.
MAX_BATCH_BYTES = 16 * 1024 * 1024

EVENT_SCHEMA = {
    "type": "object",
    "required": ["topic", "type"],
    "properties": {
        "topic": {"type": "string"},
        "type": {"type": "string"},
        "data": {"type": "object"},
        "id": {"type": "string", "description": "Idempotency key: the same id on the same topic is stored once."},
    },
}
RESULT_SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "seq": {"type": ["integer", "null"]}},
    "required": ["id", "seq"],
}
PUBLISH_DOC: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": EVENT_SCHEMA}}},
    "responses": {
        "201": {
            "description": "Published (or, for an id already stored on the topic, the stored event): {id, seq}.",
            "content": {"application/json": {"schema": RESULT_SCHEMA}},
        },
    },
}
BATCH_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["events"],
                    "properties": {"events": {"type": "array", "maxItems": MAX_BATCH_EVENTS, "items": EVENT_SCHEMA}},
                }
            }
        },
    },
    "responses": {
        "200": {
            "description": "One result per event, in the order sent: {id, seq}, or {error: {code, message}} "
            "for an event that failed alone. More than 1,000 events: 413 too_large.",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["results"],
                        "properties": {
                            "results": {"type": "array", "items": {"oneOf": [RESULT_SCHEMA, ERROR_SCHEMA]}}
                        },
                    }
                }
            },
        },
    },
}


def event_fields(item: Any) -> tuple[str, str, Any, str | None]:
    """``topic``, ``type``, ``data`` and ``id`` of one event to publish; ``invalid_message`` if malformed."""
    if not isinstance(item, dict):
        raise InvalidMessage("An event must be a JSON object.")
    topic, type_, id_ = item.get("topic"), item.get("type"), item.get("id")
    if not isinstance(topic, str):
        raise InvalidMessage("'topic' is required and must be a string.")
    if not isinstance(type_, str):
        raise InvalidMessage("'type' is required and must be a string.")
    if id_ is not None and not isinstance(id_, str):
        raise InvalidMessage("'id' must be a string.")
    return topic, type_, item.get("data"), id_


async def publish_event(hub: Hub, principal: Principal, item: Any) -> dict[str, Any]:
    """Publish one event of a request as ``principal``; its ``{id, seq}``, or the :class:`HubError`."""
    topic, type_, data, id_ = event_fields(item)
    envelope = await hub.publish(topic, type_, data, id=id_, sender=principal.user)
    return {"id": envelope.id, "seq": envelope.seq}


def batch_events(body: dict[str, Any]) -> list[Any]:
    events = body.get("events")
    if not isinstance(events, list):
        raise InvalidMessage("'events' is required and must be a list of events.")
    if len(events) > MAX_BATCH_EVENTS:
        # 413, not 400: the request is well formed but over a size limit; split it and send again.
        raise TooLarge(f"A batch holds at most {MAX_BATCH_EVENTS} events; this one has {len(events)}.")
    return events


def result_of(hub: Hub, outcome: dict[str, Any] | BaseException) -> dict[str, Any]:
    """One event's place in a batch's answer: its ``{id, seq}`` or its ``{error: {code, message}}``."""
    if isinstance(outcome, dict):
        return outcome
    if isinstance(outcome, asyncio.CancelledError):
        raise outcome
    if not isinstance(outcome, HubError):
        reason = unavailable_reason(outcome)
        if reason is not None:
            outcome = Unavailable(f"The database is {reason}; retry shortly with the same id.")
        else:
            logger.error("publishing an event of a batch failed", exc_info=outcome)
    error: dict[str, Any] = error_body(outcome)
    hub.metrics.http_errors.labels(error["error"]["code"]).inc()
    return error


def publish_routes(hub: Hub) -> list[Route]:
    """The two publish routes of the HTTP API, on ``hub``."""

    @describe(**PUBLISH_DOC)
    async def publish(request: Request) -> Response:
        """Publish an event to a topic (roles service or admin)."""
        principal = await hub.authenticate(request, roles=(SERVICE, ADMIN))
        body = await read_json(request, hub.settings.max_message_bytes)
        return JSONResponse(await publish_event(hub, principal, body), status_code=201)

    @describe(**BATCH_DOC)
    async def publish_batch(request: Request) -> Response:
        """Publish up to 1,000 events, each on its own, in one request (roles service or admin).

        Each event is checked, stored and answered as by `POST /api/publish`:
        idempotent by its `id`, failing alone.
        """
        principal = await hub.authenticate(request, roles=(SERVICE, ADMIN))
        limit = hub.settings.max_message_bytes
        body = await read_json(request, max(MAX_BATCH_BYTES, limit))
        events = batch_events(body)
        # Every event of a body within the single route's limit is within it too: only check larger ones.
        oversized = int(request.headers.get("content-length") or MAX_BATCH_BYTES) > limit
        outcomes = await asyncio.gather(
            *(publish_event(hub, principal, item) if not oversized or _fits(item, limit) else _too_large(limit)
              for item in events),
            return_exceptions=True,
        )
        return JSONResponse({"results": [result_of(hub, outcome) for outcome in outcomes]})

    return [
        Route("/api/publish", publish, methods=["POST"]),
        Route("/api/publish/batch", publish_batch, methods=["POST"]),
    ]


def _fits(item: Any, limit: int) -> bool:
    try:
        return len(encode_json(item)) <= limit
    except TypeError:
        return True  # not JSON, which cannot come from a JSON body; publish_event says what is wrong


async def _too_large(limit: int) -> dict[str, Any]:
    raise TooLarge(f"An event is limited to {limit} bytes, as in a single publish.")
