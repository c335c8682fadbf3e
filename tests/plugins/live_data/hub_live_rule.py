"""A test application plugin: its own visibility rule for live_data, registered on the service."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from hub import Hub, Principal, hookimpl


@runtime_checkable
class Rules(Protocol):
    def register_rule(self, name: str, rule: Any) -> None: ...


def same_team(principal: Principal, record: Mapping[str, Any]) -> bool:
    """A user sees the records of the teams their token lists."""
    return record.get("team") in principal.claims.get("teams", [])


@hookimpl(trylast=True)
def hub_startup(hub: Hub) -> None:
    live = hub.services.get("live_data", Rules)
    assert live is not None
    live.register_rule("same_team", same_team)
