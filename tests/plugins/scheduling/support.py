"""Shared set-up of the scheduling tests: a lawyer, a consultation type, and many watching clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.testing import RunningHub, SocketRecorder

ALL_WEEK = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
NINE_TO_FIVE = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
FAST = {"HUB_PLUGIN_SCHEDULING_SWEEP_SECONDS": "0.5"}


async def put(hub: RunningHub, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    async with hub.http() as http:
        response = await http.put(f"/api/scheduling{path}", json=body, headers=hub.headers("setup", ("service",)))
    assert response.status_code == status, response.text
    return response.json()


async def lawyer(hub: RunningHub, resource: str = "law-1", owner: str = "lawyer", tz: str = "Europe/London",
                 hours: dict[str, Any] | None = None, type_id: str = "consult", duration_minutes: float = 60,
                 buffer_minutes: float = 0) -> None:
    """A resource owned by ``owner`` and one consultation type."""
    await put(hub, f"/resources/{resource}", {"name": f"Counsel {resource}", "owner": owner, "tz": tz,
                                              "hours": hours if hours is not None else NINE_TO_FIVE})
    await put(hub, f"/types/{type_id}", {"name": type_id, "duration_minutes": duration_minutes,
                                         "buffer_minutes": buffer_minutes})


def next_weekday_at(hour: int, tz: str = "Europe/London", days_ahead: int = 2) -> str:
    """RFC 3339 (UTC) of ``hour``:00 local on a weekday at least ``days_ahead`` days from now."""
    day = datetime.now(ZoneInfo(tz)).date() + timedelta(days=days_ahead)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    local = datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(tz))
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def viewers(hubs: Sequence[RunningHub], count: int, resource: str = "law-1", tz: str = "UTC",
                  prefix: str = "client") -> list[SocketRecorder]:
    """``count`` clients (users ``<prefix>-<i>``), spread over ``hubs``, each subscribed to the resource."""

    async def one(index: int) -> SocketRecorder:
        hub = hubs[index % len(hubs)]
        client = await SocketRecorder().connect(hub, hub.token(f"{prefix}-{index}"))
        await client.wait_for("hub.welcome")
        reply = await client.call("subscribe", {"topic": f"availability:{resource}", "tz": tz})
        assert reply["ok"] is True, reply
        return client

    clients: list[SocketRecorder] = []
    for start in range(0, count, 10):  # ten at a time: a loaded machine still connects them all
        clients += await asyncio.gather(*(one(index) for index in range(start, min(count, start + 10))))
    return clients


async def close_all(clients: Sequence[SocketRecorder]) -> None:
    await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)


async def all_see(clients: Sequence[SocketRecorder], event: str, start: str, since: float,
                  timeout: float = 10.0) -> float:
    """Wait until every client got ``event`` for the slot at ``start`` (UTC form compared by instant);
    the latest arrival, in seconds after ``since`` (a wall-clock ``time.time()``, as the hub's own stamps)."""
    instant = datetime.fromisoformat(start).timestamp()
    arrivals: list[float] = []

    async def one(client: SocketRecorder) -> None:
        await client.wait_for(event, where=lambda e: datetime.fromisoformat(e["data"]["start"]).timestamp() == instant,
                              timeout=timeout)
        arrivals.append(time.time())

    await asyncio.gather(*(one(client) for client in clients))
    return max(arrivals) - since


async def direct(hub: RunningHub, start: str, key: str | None = None, client: str = "carol",
                 resource: str = "law-1") -> Any:
    """A service's direct booking ``POST /api/scheduling/bookings``: the httpx response."""
    body = {"resource": resource, "start": start, "type": "consult", "client": client}
    if key is not None:
        body["id"] = key
    async with hub.http() as http:
        return await http.post("/api/scheduling/bookings", json=body, headers=hub.headers("desk", ("service",)))


def rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
