"""Admin routes: search the event log and replay past events (role admin).

A replay sends each matching event again as a new event, to its own topic or
to one user's inbox, with ``meta.replay: true`` and ``meta.replay_of``. Long
replays go page by page: each call replays up to ``limit`` events after the
``after`` cursor and answers the ``next`` one; calls sharing a ``replay_id``
add up to one recorded replay.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import asdict, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .api import JSONResponse, read_json
from .auth import ADMIN
from .envelope import utc_timestamp
from .errors import InvalidMessage
from .eventlog.base import EventQuery, ReplayRecord, page_cursor, parse_cursor
from .types import Hub
from .openapi import describe

MAX_PAGE = 1000
FILTERS = ("topic", "type", "user", "ts_from", "ts_to", "seq_from", "seq_to")


def parse_query(values: dict[str, Any], default_limit: int = 100) -> EventQuery:
    """An :class:`EventQuery` from query parameters or a JSON body; ``invalid_message`` on bad values."""
    args: dict[str, Any] = {}
    for name in ("topic", "type", "user", "ts_from", "ts_to", "after"):
        value = values.get(name)
        if value is not None:
            if not isinstance(value, str) or not value:
                raise InvalidMessage(f"'{name}' must be a non-empty string.")
            args[name] = value
    for name in ("seq_from", "seq_to"):
        value = values.get(name)
        if value is not None:
            args[name] = _integer(name, value, minimum=0)
    args["limit"] = _integer("limit", values.get("limit", default_limit), minimum=1, maximum=MAX_PAGE)
    if "after" in args:
        try:
            parse_cursor(args["after"])
        except ValueError:
            raise InvalidMessage("'after' is not a cursor this hub gave.") from None
    return EventQuery(**args)


def _integer(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    try:
        number = int(value)
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
    except (TypeError, ValueError):
        raise InvalidMessage(f"'{name}' must be an integer.") from None
    if number < minimum or (maximum is not None and number > maximum):
        raise InvalidMessage(f"'{name}' must be between {minimum} and {maximum or 'any'}.")
    return number


async def replay_page(
    hub: Hub, actor: str, query: EventQuery, to_user: str | None, dry_run: bool, replay_id: str
) -> dict[str, Any]:
    """Replay one page of matching events (a dry run counts them all) and record it."""
    previous = await hub.log.replay(replay_id)
    if previous is not None and (previous.actor != actor or previous.dry_run):
        raise InvalidMessage("'replay_id' belongs to another replay.")
    # Events stored after the replay began are never part of it; otherwise a
    # replay would find its own copies on its next page and never end.
    cutoff = previous.requested_at if previous else _millisecond_ago()
    query = replace(query, ts_to=min(query.ts_to, cutoff) if query.ts_to else cutoff)
    count, events = 0, []
    if dry_run:
        while True:
            events = list(await hub.log.query(query))
            count += len(events)
            if len(events) < query.limit:
                break
            query = replace(query, after=page_cursor(events[-1]))
        events = []
    else:
        events = list(await hub.log.query(query))
        count = len(events)
        copies = []
        for event in events:
            target = f"user:{to_user}" if to_user else event.topic
            meta = {key: value for key, value in event.meta.items() if key not in ("replay", "replay_of")}
            meta.update(replay=True, replay_of=event.id, replay_id=replay_id)
            copies.append(hub.publish(target, event.type, event.data, meta=meta))
        # Started in order, so the event log's group commit numbers the copies in
        # the originals' order, in a few transactions instead of one per event.
        await asyncio.gather(*copies)
    record = ReplayRecord(
        id=replay_id,
        actor=actor,
        requested_at=cutoff,
        filters={name: getattr(query, name) for name in FILTERS if getattr(query, name) is not None},
        target_user=to_user,
        count=(previous.count if previous else 0) + count,
        dry_run=dry_run,
    )
    await hub.log.record_replay(record)
    more = not dry_run and len(events) == query.limit
    return {
        "replay_id": replay_id,
        "count": count,
        "total": record.count,
        "dry_run": dry_run,
        "next": page_cursor(events[-1]) if more else None,
    }


def _millisecond_ago() -> str:
    return utc_timestamp(datetime.now(timezone.utc) - timedelta(milliseconds=1))


def admin_routes(hub: Hub) -> list[Route]:
    async def list_events(request: Request) -> Response:
        """Search the event log (role admin).

        Query parameters: topic, type, user (sender or inbox owner), ts_from, ts_to
        (RFC 3339), seq_from, seq_to, limit (up to 1000), after (the previous page's `next`).
        """
        await hub.authenticate(request, roles=(ADMIN,))
        query = parse_query(dict(request.query_params))
        events = list(await hub.log.query(query))
        more = len(events) == query.limit
        return JSONResponse(
            {"events": [e.to_dict() for e in events], "next": page_cursor(events[-1]) if more and events else None}
        )

    @describe(
        requestBody={
            "required": True,
            "content": {"application/json": {"schema": {"type": "object", "properties": {
                **{name: {"type": "string"} for name in ("topic", "type", "user", "ts_from", "ts_to", "after",
                                                         "to_user", "replay_id")},
                "seq_from": {"type": "integer"}, "seq_to": {"type": "integer"},
                "limit": {"type": "integer"}, "dry_run": {"type": "boolean"},
            }}}},
        }
    )
    async def replay(request: Request) -> Response:
        """Replay matching events (role admin): again to their topic, or to `to_user`'s inbox.

        At least one filter is required. `dry_run` counts without sending. Each call
        handles up to `limit` events after `after` and answers `next`; pass the same
        `replay_id` on the following calls to continue one recorded replay.
        """
        principal = await hub.authenticate(request, roles=(ADMIN,))
        body = await read_json(request, hub.settings.max_message_bytes)
        query = parse_query(body, default_limit=MAX_PAGE)
        if not any(getattr(query, name) is not None for name in FILTERS):
            raise InvalidMessage("A replay needs at least one filter (topic, type, user, time or seq range).")
        to_user = body.get("to_user")
        if to_user is not None and (not isinstance(to_user, str) or not to_user):
            raise InvalidMessage("'to_user' must be a user id.")
        dry_run = body.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise InvalidMessage("'dry_run' must be true or false.")
        replay_id = body.get("replay_id") or uuid.uuid4().hex
        if not isinstance(replay_id, str) or len(replay_id) > 64:
            raise InvalidMessage("'replay_id' must be a short string.")
        result = await replay_page(hub, principal.user, query, to_user, dry_run, replay_id)
        return JSONResponse(result, status_code=200)

    async def list_replays(request: Request) -> Response:
        """The recorded replays, newest first (role admin)."""
        await hub.authenticate(request, roles=(ADMIN,))
        return JSONResponse({"replays": [asdict(record) for record in await hub.log.replays()]})

    return [
        Route("/api/admin/events", list_events, methods=["GET"]),
        Route("/api/admin/replay", replay, methods=["POST"]),
        Route("/api/admin/replays", list_replays, methods=["GET"]),
    ]
