"""A fixture plugin that provides ``clock`` too: the hub must refuse the second provider, naming both."""

from __future__ import annotations

from hub import hookimpl


class RivalClock:
    async def describe(self, zone: str) -> dict[str, str]:
        return {"time": "13:00", "zone": zone, "by": "rival"}


@hookimpl
def hub_startup(hub):
    hub.services.provide("clock", RivalClock())
