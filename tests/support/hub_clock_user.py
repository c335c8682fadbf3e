"""A fixture plugin that uses the ``clock`` service without importing its plugin.

It declares the protocol it needs, looks the service up when a request comes,
and carries on without it (``{"available": false}``).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from hub import ClientRequest, hookimpl


@runtime_checkable
class Clock(Protocol):
    async def describe(self, zone: str) -> dict[str, str]: ...


async def time(request: ClientRequest) -> dict[str, Any]:
    """``clockuser.time {zone}``: the time, from the clock service if there is one."""
    clock = request.hub.services.get("clock", Clock)
    if clock is None:
        return {"available": False}
    return {"available": True, **await clock.describe(request.field("zone", str))}


@hookimpl
def hub_requests(hub: Any) -> dict[str, Any]:
    return {"time": time}
