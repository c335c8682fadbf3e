"""Who may read and who may write a document: the configured default, narrowed by the application.

The default: admins and services write; a user holding one of
``read_only_roles`` reads only; when ``write_roles`` is set, only those roles
write and everyone else reads. An application changes that with a service of
its own plugin named ``collab_access`` (``hub.services.provide``), an object
with ``collab_access(principal, document, default) -> "write" | "read" | "none"``
(sync or async): what it returns decides, ``None`` keeps the default.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal, Protocol, runtime_checkable

from hub import Forbidden, Hub, InvalidMessage, Principal

from .config import CollabConfig

Access = Literal["write", "read", "none"]
ACCESS_SERVICE = "collab_access"


@runtime_checkable
class AccessRule(Protocol):
    """The shape of the ``collab_access`` service an application plugin may provide."""

    def collab_access(self, principal: Principal, document: str, default: Access) -> Any: ...


def default_access(config: CollabConfig, principal: Principal) -> Access:
    if principal.is_admin or principal.is_service:
        return "write"
    if any(principal.has_role(role) for role in config.read_only_roles):
        return "read"
    if config.write_roles and not any(principal.has_role(role) for role in config.write_roles):
        return "read"
    return "write"


async def decide(hub: Hub, config: CollabConfig, principal: Principal, document: str) -> Access:
    """The principal's access to ``document``: the application's rule if there is one, else the default."""
    default = default_access(config, principal)
    rule = hub.services.get(ACCESS_SERVICE, AccessRule)
    if rule is None:
        return default
    decided = rule.collab_access(principal, document, default)
    if inspect.isawaitable(decided):
        decided = await decided
    if decided is None:
        return default
    if decided not in ("write", "read", "none"):
        raise InvalidMessage("The application's collab_access rule returned an unknown access.")
    return decided  # type: ignore[no-any-return]


def require_read(access: Access, document: str) -> None:
    if access == "none":
        raise Forbidden(f"You may not open the document {document!r}.")


def require_write(access: Access, document: str) -> None:
    if access != "write":
        raise Forbidden(f"You may read the document {document!r} but not change it.")
