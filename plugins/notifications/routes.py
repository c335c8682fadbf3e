"""The HTTP API: ``POST /api/notifications``, ``GET /api/notifications``, ``POST /api/notifications/read``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from hub import Hub, JSONResponse, describe, read_json

from .config import NAME
from .service import NotificationService
from .validation import MAX_READ_IDS, draft_from_body, page_query, read_selection

CREATE_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["users", "title", "body"],
        "properties": {
            "users": {"type": "array", "items": {"type": "string"}, "maxItems": 10000},
            "title": {"type": "string"},
            "body": {"type": "string"},
            "data": {"type": "object"},
            "id": {"type": "string", "description": "Idempotency key: a retry with the same id lands once."},
        },
    }}},
}
READ_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "oneOf": [
            {"type": "object", "required": ["ids"],
             "properties": {"ids": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_READ_IDS}}},
            {"type": "object", "required": ["all"], "properties": {"all": {"const": True}}},
        ],
    }}},
}
LIST_PARAMETERS = [
    {"name": "unread", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
]


def notification_routes(hub: Hub) -> list[BaseRoute]:
    def service() -> NotificationService:
        # Provided at start-up only when the hub has a SQL database.
        return hub.services.require(NAME, NotificationService, "Notifications need a SQL database, and this hub has none.")

    @describe(requestBody=CREATE_BODY, responses={
        "201": {"description": "Stored and published: {id, users, created}."},
        "200": {"description": "A retry: every user already had this id."},
    })
    async def create(request: Request) -> JSONResponse:
        """Notify users (roles service or admin).

        One notification per distinct user, each published as `notification.created`
        to `user:<sub>`: at once to connected users, on their next connection to the others.
        """
        principal = await hub.authenticate(request, roles=("service", "admin"))
        notifications = service()
        body = await read_json(request, notifications.limits.max_request_bytes)
        checked = draft_from_body(body, notifications.limits)
        result = await notifications.deliver(checked, sender=principal.user)
        return JSONResponse(result, status_code=201 if result["created"] else 200)

    @describe(parameters=LIST_PARAMETERS)
    async def list_mine(request: Request) -> JSONResponse:
        """Your notifications, newest first: {items, unread, next_cursor}."""
        principal = await hub.authenticate(request)
        notifications = service()
        unread_only, before, limit = page_query(request.query_params, notifications.limits)
        rows, next_cursor, unread = await notifications.store.page(principal.user, unread_only, before, limit)
        return JSONResponse({
            "items": [row.to_dict() for row in rows],
            "unread": unread,
            "next_cursor": str(next_cursor) if next_cursor is not None else None,
        })

    @describe(requestBody=READ_BODY, responses={"200": {"description": "{read, unread}"}})
    async def mark_read(request: Request) -> JSONResponse:
        """Mark your notifications read: {ids: [...]} or {all: true}.

        Your other connections get `notification.read` with the ids (or `all`) and the unread count.
        """
        principal = await hub.authenticate(request)
        notifications = service()
        body = await read_json(request, hub.settings.max_message_bytes)
        ids = read_selection(body)
        return JSONResponse(await notifications.mark_read(principal.user, ids))

    return [
        # The contract's own path, outside the /api/notifications/ mount (no trailing slash).
        Route(f"/api/{NAME}", create, methods=["POST"], name="notifications_create"),
        Route(f"/api/{NAME}", list_mine, methods=["GET"], name="notifications_list"),
        Route("/read", mark_read, methods=["POST"], name="notifications_read"),
    ]
