"""Helpers of the analytics tests: fast settings, reading ``/metrics``, waiting for a tick that matches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from hub.testing import RunningHub, SocketRecorder

#: Seconds instead of a minute and a week, so a test sees several stored intervals.
FAST = {
    "HUB_PLUGIN_ANALYTICS_TICK_SECONDS": "0.5",
    "HUB_PLUGIN_ANALYTICS_ROLLUP_SECONDS": "1",
    "HUB_PLUGIN_ANALYTICS_RETENTION_SECONDS": "600",
}


async def scrape(hub: RunningHub) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the hub's ``/metrics``, by name and sorted labels."""
    async with hub.http() as http:
        response = await http.get("/metrics")
    response.raise_for_status()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(
        value for (sample, found), value in samples.items()
        if sample == name and all(dict(found).get(k) == v for k, v in labels.items())
    )


async def next_tick(client: SocketRecorder, where: Callable[[dict[str, Any]], bool], timeout: float = 15.0) -> dict[str, Any]:
    """The data of the first ``stats.tick`` received from now on that matches ``where`` (waits up to ``timeout``)."""
    seen = len(client.of_type("stats.tick"))
    deadline = time.monotonic() + timeout
    while True:
        ticks = client.of_type("stats.tick")
        for envelope in ticks[seen:]:
            if where(envelope["data"]):
                return dict(envelope["data"])
        seen = len(ticks)
        if time.monotonic() > deadline:
            last = ticks[-1]["data"] if ticks else None
            raise AssertionError(f"no matching stats.tick within {timeout}s; the last: {last}")
        await asyncio.sleep(0.05)


async def history(hub: RunningHub, **params: Any) -> httpx.Response:
    async with hub.http() as http:
        return await http.get("/api/analytics/history", params=params, headers=hub.headers("root", ("admin",)))
