"""A burst of events published on one hub process reaches every subscriber of the other, all of them, in order.

Two real ``hub serve`` processes on one Redis (:class:`tests.support.cluster.Pair`).
Hundreds of events published at once on A (one ``POST /api/publish/batch``, or a
client sending its publishes without waiting for the replies, as the fan-out
benchmark does) must reach the subscribers on B as they reach A's own: each
event once, none missing, in the same order everywhere. An ephemeral event
(``chatter:``) has no log to be recovered from, so only the broker can bring it.

Once, every emit published to Redis on a pooled connection of its own, held
until Redis answered: a burst took as many connections as events, redis-py's
pool (100 at most) refused the rest, the broker was marked down and those
events never left A (the benchmark's two-process fan-out: B's subscribers got
100 of 300 events).

Each test runs twice: on the hub's own manager (``probe``: :class:`hub.broker.HubRedisManager`)
and on the fallback used when the seam's ``redis_broker_probe`` check fails (``plain``:
python-socketio's manager, :class:`hub.broker.PlainRedisManager`), which had the same bug.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hub.testing import RunningHub, SocketRecorder

from .support import WITHOUT_REDIS_PROBE, patch_site
from tests.support.cluster import Pair, health, metric

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

BURST = 400
READERS_ON_B = 6


@pytest.fixture(params=["probe", "plain"])
async def pair(
    request: pytest.FixtureRequest, tmp_path: Path, redis_url: str, postgres_database: str,
) -> AsyncIterator[Pair]:
    """Two processes as in :mod:`tests.test_scale_out`, letting one client publish hundreds of events at once."""
    plain = request.param == "plain"
    sites = [patch_site(tmp_path / "patch", WITHOUT_REDIS_PROBE)] if plain else []
    hubs = Pair(tmp_path, redis_url, postgres_database, sites, HUB_RATE_LIMIT="100000", HUB_RATE_BURST="100000")
    hubs.start("a")
    hubs.start("b")
    for hub in hubs.hubs:  # the manager the test means to run on
        state = (await health(hub))[1]["optimisations"]["redis_broker_probe"]
        assert state.startswith("off: ") if plain else state == "on", state
    yield hubs
    await hubs.close()


async def readers(pair: Pair, topic: str) -> tuple[SocketRecorder, list[SocketRecorder]]:
    """One subscriber of ``topic`` on A and ``READERS_ON_B`` on B."""
    a, b = pair.hubs
    on_a = await pair.connect(a, "reader-a")
    on_b = [await pair.connect(b, f"reader-b{n}") for n in range(READERS_ON_B)]
    for reader in (on_a, *on_b):
        assert (await reader.call("subscribe", {"topic": topic}))["ok"]
    return on_a, on_b


async def received(reader: SocketRecorder, type: str, count: int) -> list[Any]:
    """The events of ``type`` ``reader`` got, once ``count`` arrived (or the wait timed out: the caller says what is missing)."""
    try:
        await reader.wait_for(type, count=count, timeout=30)
    except TimeoutError:
        pass
    return reader.of_type(type)


async def publish_batch(hub: RunningHub, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    async with hub.http() as http:
        response = await http.post("/api/publish/batch", json={"events": events}, headers=hub.headers())
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    assert all("error" not in result for result in results), results
    return results


async def assert_broker_never_failed(pair: Pair) -> None:
    for hub in pair.hubs:
        assert await metric(hub, "hub_broker_publish_failures_total") == 0.0
        assert await metric(hub, "hub_broker_outages_total") == 0.0
        # python-socketio's own manager (``plain``) counts nothing: it only logs a failed publish.
        assert "Cannot publish to redis" not in hub.log()


async def test_an_ephemeral_burst_published_on_a_reaches_every_subscriber_on_b(pair: Pair) -> None:
    a, _ = pair.hubs
    on_a, on_b = await readers(pair, "chatter:burst")
    await publish_batch(a, [{"topic": "chatter:burst", "type": "chat.said", "data": {"n": n}} for n in range(BURST)])

    assert [event["data"]["n"] for event in await received(on_a, "chat.said", BURST)] == list(range(BURST))
    for reader in on_b:
        got = [event["data"]["n"] for event in await received(reader, "chat.said", BURST)]
        assert got == list(range(BURST)), f"{len(got)} of {BURST}; missing {sorted(set(range(BURST)) - set(got))[:10]}"
    await asyncio.sleep(0.3)
    assert all(len(reader.of_type("chat.said")) == BURST for reader in on_b)  # each once
    await assert_broker_never_failed(pair)


async def test_a_durable_burst_reaches_b_live_in_seq_order(pair: Pair) -> None:
    a, b = pair.hubs
    _, on_b = await readers(pair, "feed:burst")
    results = await publish_batch(a, [{"topic": "feed:burst", "type": "news.posted", "data": {"n": n}} for n in range(BURST)])
    assert [result["seq"] for result in results] == list(range(1, BURST + 1))

    for reader in on_b:
        seqs = [event["seq"] for event in await received(reader, "news.posted", BURST)]
        assert seqs == list(range(1, BURST + 1)), f"{len(seqs)} of {BURST}"
    # Live through the broker, not sent again from the log after an outage.
    assert await metric(b, "hub_broker_recovered_events_total") == 0.0
    await assert_broker_never_failed(pair)


async def test_a_client_publishing_without_waiting_reaches_b_in_a_s_order(pair: Pair) -> None:
    a, _ = pair.hubs
    on_a, on_b = await readers(pair, "chatter:socket")
    publisher = await pair.connect(a, "publisher")
    replies: list[Any] = []
    all_replied = asyncio.Event()

    def replied(reply: Any) -> None:
        replies.append(reply)
        if len(replies) == BURST:
            all_replied.set()

    # As the benchmark's publisher does: every publish sent at once, the replies counted as they come.
    for n in range(BURST):
        await publisher.sio.emit(
            "publish", {"topic": "chatter:socket", "type": "chat.said", "data": {"n": n}}, callback=replied
        )
    await asyncio.wait_for(all_replied.wait(), 30)
    assert all(reply["ok"] for reply in replies), [reply for reply in replies if not reply["ok"]][:3]

    # Whatever order A handled them in, every process delivers that order.
    order = [event["data"]["n"] for event in await received(on_a, "chat.said", BURST)]
    assert sorted(order) == list(range(BURST))
    for reader in on_b:
        got = [event["data"]["n"] for event in await received(reader, "chat.said", BURST)]
        assert got == order, f"{len(got)} of {BURST}; missing {sorted(set(order) - set(got))[:10]}"
    await assert_broker_never_failed(pair)
