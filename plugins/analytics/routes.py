"""``GET /api/analytics/history?from&to&step`` (role admin): stored intervals, every process added up."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub import Hub, InvalidMessage, JSONResponse, Unavailable, describe

from .figures import read
from .history import iso, points

if TYPE_CHECKING:
    from .runtime import Analytics

DEFAULT_SPAN = 3600.0


def parse_time(value: str | None, name: str, default: float) -> float:
    """An RFC 3339 time with its offset (``2026-12-01T10:00:00Z``) as Unix time; ``default`` when absent."""
    if value is None or value == "":
        return default
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise InvalidMessage(f"'{name}' must be an RFC 3339 time such as 2026-12-01T10:00:00Z.") from None
    if parsed.tzinfo is None or "T" not in value.upper():
        raise InvalidMessage(f"'{name}' must be an RFC 3339 time with its offset (Z or +01:00).")
    return parsed.timestamp()


def routes(hub: Hub, analytics: Callable[[], Analytics]) -> list[BaseRoute]:
    @describe(parameters=[
        {"name": "from", "in": "query", "schema": {"type": "string", "format": "date-time"},
         "description": "Start (RFC 3339); default: an hour before `to`."},
        {"name": "to", "in": "query", "schema": {"type": "string", "format": "date-time"},
         "description": "End (RFC 3339), exclusive; default: now."},
        {"name": "step", "in": "query", "schema": {"type": "number", "exclusiveMinimum": 0},
         "description": "Seconds per point; default: the rollup interval."},
    ])
    async def history(request: Request) -> Response:
        """The cluster's figures over a range of time, step by step (role admin).

        Every process's stored rollup intervals added up, and the current interval
        (not stored yet, `partial: true`) at the end. Bad input answers 400 `invalid_message`.
        """
        await hub.authenticate(request, roles=("admin",))
        running = analytics()
        config = running.config
        query = request.query_params
        end = parse_time(query.get("to"), "to", time.time())
        start = parse_time(query.get("from"), "from", end - DEFAULT_SPAN)
        raw_step = query.get("step")
        try:
            step = float(raw_step) if raw_step not in (None, "") else config.rollup_seconds
        except ValueError:
            raise InvalidMessage("'step' must be a number of seconds.") from None
        if not math.isfinite(step) or step <= 0:
            raise InvalidMessage("'step' must be a positive number of seconds.")
        if start >= end:
            raise InvalidMessage("'from' must be before 'to'.")
        if (end - start) / max(step, config.rollup_seconds) > config.max_history_points:
            raise InvalidMessage(
                f"That range has more than {config.max_history_points} points: ask for a larger 'step' or a shorter range."
            )
        if running.store is None:
            raise Unavailable("History needs an SQL database (HUB_DATABASE_URL is memory://).")
        bounds = read(hub).bounds
        stored = await running.store.between(start, end, len(bounds) + 1)
        # A process's last report may predate its newest stored interval: then that interval is stored already.
        kept = {(interval.node, interval.start) for interval in stored}
        partials = [p for p in await running.partials() if (p.node, p.start) not in kept]
        intervals = [*stored, *partials]
        return JSONResponse({
            "from": iso(start), "to": iso(end), "step": step, "interval": config.rollup_seconds,
            "points": points(intervals, start, end, step, bounds),
        })

    return [Route("/history", history, methods=["GET"])]
