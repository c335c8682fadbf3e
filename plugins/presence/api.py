"""The client request ``presence.typing`` and the route ``GET /api/presence/users``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from hub import ClientRequest, Hub, InvalidMessage, JSONResponse, describe

from .rooms import KIND, Presence

USER_ID = re.compile(r"^[^\x00-\x1f]{1,255}$")

#: The presence state of the plugin's hub (raises Unavailable before start-up).
PresenceOf = Callable[[], Presence]


def typing_handler(presence_of: PresenceOf) -> Any:
    async def typing(request: ClientRequest) -> dict[str, Any]:
        """``presence.typing {room, typing}``: tell the room's other members; ``{throttled}``."""
        room = request.field("room", str)
        typing = request.field("typing", bool)
        topic = f"{KIND}:{room}"
        request.hub.topics.resolve(topic)  # InvalidTopic for a malformed room
        throttled = await presence_of().typing(request.connection, topic, typing)
        return {"throttled": throttled}

    return typing


def routes(hub: Hub, presence_of: PresenceOf) -> list[BaseRoute]:
    @describe(
        parameters=[
            {
                "name": "ids",
                "in": "query",
                "required": True,
                "description": "User ids, comma-separated (the parameter may also repeat).",
                "schema": {"type": "string"},
            }
        ],
        responses={"200": {"description": "{users: [{user, online, last_seen}]}, in the order asked."}},
    )
    async def users(request: Request) -> JSONResponse:
        """Whether each user is online, and when they were last seen (any authenticated user)."""
        await hub.authenticate(request)
        presence = presence_of()
        ids = _user_ids(request.query_params.getlist("ids"), presence.config.max_ids)
        return JSONResponse({"users": await presence.users(ids)})

    return [Route("/users", users, methods=["GET"], name="presence_users")]


def _user_ids(values: list[str], limit: int) -> list[str]:
    ids: list[str] = []
    for value in values:
        for part in value.split(","):
            user_id = part.strip()
            if not user_id:
                continue
            if not USER_ID.match(user_id):
                raise InvalidMessage("A user id is 1 to 255 printable characters.")
            if user_id not in ids:
                ids.append(user_id)
    if not ids:
        raise InvalidMessage("'ids' is required: user ids, comma-separated.")
    if len(ids) > limit:
        raise InvalidMessage(f"At most {limit} user ids per request.")
    return ids
