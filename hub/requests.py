"""Client requests: the dispatcher, and the core's own requests.

A request is a Socket.IO event sent with an acknowledgement; its reply is
``{"ok": true, ...}`` or ``{"ok": false, "error": {...}}``. A failing request
sent without an acknowledgement gets a ``hub.error`` event instead.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .envelope import utc_timestamp, validate_id, validate_type
from .errors import Forbidden, HubError, InternalError, InvalidMessage, RateLimited, TooLarge, error_reply
from .types import AfterReply, ClientRequest, Hub, RequestHandler

if TYPE_CHECKING:
    from .connection import Connection
    from .sessions import Sessions
    from .streams import Streams

logger = logging.getLogger("hub.requests")


class Dispatcher:
    """Checks limits, finds the handler of a request, and shapes its reply."""

    def __init__(self, hub: Hub, handlers: dict[str, RequestHandler]) -> None:
        self.hub = hub
        self.handlers = handlers

    async def dispatch(
        self, connection: Connection, name: Any, args: list[Any], size: int
    ) -> tuple[dict[str, Any], list[AfterReply]]:
        """The reply to one request, and what to run after sending it."""
        request_name = name if isinstance(name, str) and name in self.handlers else "unknown"
        try:
            if size > self.hub.settings.max_message_bytes:
                raise TooLarge(f"Requests are limited to {self.hub.settings.max_message_bytes} bytes.")
            if not connection.limiter.take():
                raise RateLimited("Too many requests; slow down.")
            handler = self.handlers.get(name) if isinstance(name, str) else None
            if handler is None:
                raise InvalidMessage(f"Unknown request {str(name)[:64]!r}.")
            if len(args) != 1 or not isinstance(args[0], dict):
                raise InvalidMessage("A request's payload must be one JSON object.")
            request = ClientRequest(self.hub, connection, name, args[0])
            result = await handler(request)
            self.hub.metrics.requests.labels(request_name, "ok").inc()
            return {"ok": True, **(result or {})}, request.after_reply
        except HubError as error:
            # Logged without the payload: it may hold personal data or secrets.
            logger.info("request %s from %s refused: %s", request_name, connection.id, error.code)
            self.hub.metrics.requests.labels(request_name, error.code).inc()
            return error_reply(error), []
        except Exception:
            logger.exception("request %s from %s failed", request_name, connection.id)
            self.hub.metrics.requests.labels(request_name, "internal").inc()
            return error_reply(InternalError()), []


# The core's requests ---------------------------------------------------------


def core_requests(streams: Streams, sessions: Sessions) -> dict[str, RequestHandler]:
    """The core's own requests, over the parts of the hub they work on."""

    async def subscribe(request: ClientRequest) -> dict[str, Any]:
        topic = request.field("topic", str)
        since = request.field("since", int, required=False)
        if since is not None and since < 0:
            raise InvalidMessage("'since' must be 0 or more.")
        return await streams.subscribe(request, topic, since)

    async def unsubscribe(request: ClientRequest) -> dict[str, Any]:
        topic = request.field("topic", str)
        await streams.unsubscribe(request.connection, topic)
        return {}

    async def refresh(request: ClientRequest) -> dict[str, Any]:
        token = request.field("token", str)
        principal = sessions.verifier.verify(token)
        if principal.user != request.principal.user:
            raise Forbidden("A refreshed token must be for the same user ('sub').")
        sessions.refresh(request.connection, principal)
        return {"expires_at": utc_timestamp(datetime.fromtimestamp(principal.expires_at, timezone.utc))}

    return {"subscribe": subscribe, "unsubscribe": unsubscribe, "publish": publish, "ack": ack, "auth.refresh": refresh}


async def publish(request: ClientRequest) -> dict[str, Any]:
    topic = request.field("topic", str)
    event_type = request.field("type", str)
    data = request.field("data", dict, required=False)
    event_id = request.field("id", str, required=False)
    # The message's shape is checked before the policy, so a malformed publish
    # is `invalid_message` wherever it was aimed.
    validate_type(event_type)
    if event_id is not None:
        validate_id(event_id)
    await request.hub.topics.check_client_publish(request.principal, topic)
    envelope = await request.hub.publish(
        topic, event_type, data, id=event_id, sender=request.principal.user
    )
    return {"id": envelope.id, "seq": envelope.seq}


async def ack(request: ClientRequest) -> dict[str, Any]:
    ids = request.field("ids", list)
    if not all(isinstance(event_id, str) for event_id in ids) or len(ids) > 1000:
        raise InvalidMessage("'ids' must be a list of up to 1000 event ids.")
    acked = await request.hub.log.ack(request.principal.user, ids)
    return {"acked": acked}


__all__ = ["ClientRequest", "Dispatcher", "RequestHandler", "core_requests"]
