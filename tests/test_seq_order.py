"""Durable events of one topic published on two processes at once reach every subscriber
once each, in ``seq`` order, with none missing.

Two processes commit the seqs of one topic in turn, but each emits its own
events through Redis, so a subscriber's process can hear seq 5 before seq 4.
The subscriber must still get 4 (it was acknowledged to its publisher), and
before 5.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest

from hub.testing import RunningHub

from tests.support.cluster import Pair

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

EVENTS = 1200
IN_FLIGHT = 24  # publishes in flight at once, half through each process


async def publish_all(hubs: list[RunningHub], topic: str) -> list[dict[str, Any]]:
    """``EVENTS`` HTTP publishes to ``topic``, spread over both processes, many in flight."""
    counter = itertools.count()
    answers: list[dict[str, Any]] = []

    async def publisher(hub: RunningHub, http: httpx.AsyncClient) -> None:
        token = hub.token("backend", roles=["service"])
        while (n := next(counter)) < EVENTS:
            response = await http.post(
                "/api/publish", json={"topic": topic, "type": "news.posted", "data": {"n": n}},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 201, response.text
            answers.append(response.json())

    clients = [hub.http() for hub in hubs]
    async with clients[0] as first, clients[1] as second:
        await asyncio.gather(*(
            publisher(hubs[i % 2], (first, second)[i % 2]) for i in range(IN_FLIGHT)
        ))
    return answers


async def test_concurrent_publishes_on_two_processes_reach_everyone_in_order(pair: Pair) -> None:
    a, b = pair.hubs
    readers = [await pair.connect(hub, f"reader-{n}") for n, hub in enumerate((a, b, a, b))]
    for reader in readers:
        assert (await reader.call("subscribe", {"topic": "feed:busy"}))["ok"]

    answers = await publish_all([a, b], "feed:busy")
    assert sorted(answer["seq"] for answer in answers) == list(range(1, EVENTS + 1))

    for reader in readers:
        try:
            await reader.wait_for("news.posted", count=EVENTS, timeout=30)
        except TimeoutError:
            pass  # the assertion below says what is missing
        got = reader.of_type("news.posted")
        seqs = [event["seq"] for event in got]
        assert seqs == list(range(1, EVENTS + 1)), (
            f"missing {sorted(set(range(1, EVENTS + 1)) - set(seqs))[:10]}, "
            f"out of order at {[i for i in range(1, len(seqs)) if seqs[i] <= seqs[i - 1]][:10]}"
        )
