"""A fixture plugin that offers a service, ``clock``, to the other plugins.

``HUB_PLUGIN_CLOCK_SHAPE=broken`` provides an object without ``describe``, as a
provider that changed its API would: its users must get a clear error.
"""

from __future__ import annotations

import os

from hub import hookimpl


class Clock:
    """What the service offers: a fixed time, so tests can compare it."""

    def __init__(self, label: str) -> None:
        self.label = label

    async def describe(self, zone: str) -> dict[str, str]:
        return {"time": "12:00", "zone": zone, "by": self.label}


class BrokenClock:
    async def tell(self, zone: str) -> str:
        return "noon"


@hookimpl
def hub_startup(hub):
    broken = os.environ.get("HUB_PLUGIN_CLOCK_SHAPE") == "broken"
    hub.services.provide("clock", BrokenClock() if broken else Clock("clock"))
