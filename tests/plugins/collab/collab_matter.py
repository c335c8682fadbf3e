"""A fixture plugin: the application's own rule for collab documents, as a ``collab_access`` service.

Documents ``matter-<n>-...``: users listed in the token claim ``lawyer_of`` (matter
numbers) write, those in ``client_of`` read, everyone else may not open them.
Other documents keep collab's default (``None``).
"""

from __future__ import annotations

from hub import Hub, Principal, hookimpl


class MatterAccess:
    async def collab_access(self, principal: Principal, document: str, default: str) -> str | None:
        if not document.startswith("matter-"):
            return None
        matter = document.split("-")[1]
        if matter in principal.claims.get("lawyer_of", []):
            return "write"
        return "read" if matter in principal.claims.get("client_of", []) else "none"


@hookimpl
def hub_startup(hub: Hub) -> None:
    hub.services.provide("collab_access", MatterAccess())
