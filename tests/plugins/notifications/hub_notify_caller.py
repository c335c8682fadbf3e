"""A fixture plugin that tells users things through the ``notifications`` service, as other plugins do.

It never imports the notifications plugin: it declares the protocol it needs,
looks the service up when it needs it and reports ``{"sent": false}`` when the
service is absent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from hub import ClientRequest, hookimpl


@runtime_checkable
class Notifier(Protocol):
    async def notify(
        self, users: Sequence[str], title: str, body: str, data: dict[str, Any] | None = None, id: str | None = None
    ) -> Mapping[str, Any]: ...


async def remind(request: ClientRequest) -> dict[str, Any]:
    """``caller.remind {user, text, id?}``: notify ``user`` through the service, if there is one."""
    notifications = request.hub.services.get("notifications", Notifier)
    if notifications is None:
        return {"sent": False}
    result = await notifications.notify(
        [request.field("user", str)], "Reminder", request.field("text", str),
        {"from": request.principal.user}, id=request.payload.get("id"),
    )
    return {"sent": True, **result}


@hookimpl
def hub_requests(hub: Any) -> dict[str, Any]:
    return {"remind": remind}
