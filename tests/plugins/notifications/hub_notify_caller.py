"""A fixture plugin that tells users things through ``hub.services["notifications"]``, as other plugins do.

It never imports the notifications plugin: it looks the service up when it
needs it and reports ``{"sent": false}`` when the service is absent.
"""

from __future__ import annotations

from typing import Any

from hub import ClientRequest, hookimpl


async def remind(request: ClientRequest) -> dict[str, Any]:
    """``caller.remind {user, text, id?}``: notify ``user`` through the service, if there is one."""
    notifications = request.hub.services.get("notifications")
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
