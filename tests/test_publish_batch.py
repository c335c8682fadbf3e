"""``POST /api/publish/batch``: many events in one request, each answered in order, each on its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.publish_api import MAX_BATCH_EVENTS
from hub.testing import RunningHub, ServedHub, start_hub, welcomed

MAX_MESSAGE_BYTES = 4096


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    # A small per-event limit, so that one event can be over it within a batch.
    running = start_hub(tmp_path_factory.mktemp("batch"), env={"HUB_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES)})
    yield running
    running.stop()


async def batch(hub: RunningHub, events: Any, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
    async with hub.http() as http:
        return await http.post(
            "/api/publish/batch", json={"events": events}, headers=hub.headers() if headers is None else headers,
            **kwargs,
        )


async def results(hub: RunningHub, events: list[Any]) -> list[dict[str, Any]]:
    response = await batch(hub, events)
    assert response.status_code == 200, response.text
    answer: list[dict[str, Any]] = response.json()["results"]
    assert len(answer) == len(events)
    return answer


def event(topic: str, n: int, **extra: Any) -> dict[str, Any]:
    return {"topic": topic, "type": "batch.test", "data": {"n": n}, **extra}


async def test_results_in_order_across_mixed_topics(hub: RunningHub) -> None:
    topics = ["user:mix-a", "user:mix-b", "user:mix-c"]
    events = [event(topics[n % 3], n, id=f"mix-{n}") for n in range(30)]
    answer = await results(hub, events)
    assert [result["id"] for result in answer] == [f"mix-{n}" for n in range(30)]
    for index, topic in enumerate(topics):
        # Each topic's events numbered 1, 2, 3 ... in the order the batch holds them.
        assert [answer[n]["seq"] for n in range(index, 30, 3)] == list(range(1, 11))


async def test_a_bad_event_fails_alone(hub: RunningHub) -> None:
    events = [
        event("user:bad-mix", 0),
        {"topic": "user:bad-mix", "type": "Not A Type", "data": {}},
        "not an object",
        {"type": "batch.test", "data": {}},
        event("nosuchkind:x", 4),
        event("user:bad-mix", 5, id=7),
        event("user:bad-mix", 6, data=[1, 2]),
        event("user:bad-mix", 7),
    ]
    events[6]["data"] = [1, 2]
    answer = await results(hub, events)
    codes = [result.get("error", {}).get("code") for result in answer]
    assert codes == [None, "invalid_message", "invalid_message", "invalid_message", "unknown_topic",
                     "invalid_message", "invalid_message", None]
    assert all(isinstance(result["error"]["message"], str) for result in answer if "error" in result)
    # The failed ones took no seq: the good events are 1 and 2.
    assert (answer[0]["seq"], answer[7]["seq"]) == (1, 2)


async def test_one_event_over_the_single_publish_limit_fails_alone(hub: RunningHub) -> None:
    big = event("user:big", 1, data={"blob": "x" * MAX_MESSAGE_BYTES})
    answer = await results(hub, [event("user:big", 0), big, event("user:big", 2)])
    assert answer[1]["error"]["code"] == "too_large"
    assert (answer[0]["seq"], answer[2]["seq"]) == (1, 2)


async def test_idempotent_by_id_on_retry_and_within_a_batch(hub: RunningHub) -> None:
    events = [event("user:idem", n, id=f"idem-{n}") for n in range(5)]
    first = await results(hub, events)
    again = await results(hub, [*events, events[2]])
    assert again[:5] == first and again[5] == first[2]
    # The same id on another topic is another event.
    other = await results(hub, [event("user:idem-other", 0, id="idem-0")])
    assert other[0] == {"id": "idem-0", "seq": 1}
    # Nothing was stored twice: the next event of the topic follows the first five.
    assert (await results(hub, [event("user:idem", 9)]))[0]["seq"] == 6
    # The single route answers an id a batch stored with the same {id, seq}.
    assert await hub.publish("user:idem", "batch.test", {}, id="idem-3") == first[3]


async def test_the_limit_of_events(hub: RunningHub) -> None:
    full = [{"topic": f"user:limit-{n % 7}", "type": "batch.test"} for n in range(MAX_BATCH_EVENTS)]
    answer = await results(hub, full)
    assert all("seq" in result for result in answer)
    over = await batch(hub, [*full, full[0]])
    assert over.status_code == 413
    assert over.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize("body", [{}, {"events": {"topic": "user:x"}}, {"events": "x"}, [1]])
async def test_a_malformed_batch_is_invalid_message(hub: RunningHub, body: Any) -> None:
    async with hub.http() as http:
        response = await http.post("/api/publish/batch", json=body, headers=hub.headers())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_message"


async def test_an_empty_batch_answers_no_results(hub: RunningHub) -> None:
    assert await results(hub, []) == []


async def test_unauthorised_roles_are_refused_and_nothing_is_stored(hub: RunningHub) -> None:
    events = [event("user:guarded", 0)]
    for headers, status, code in [
        ({}, 401, "auth_required"),
        ({"authorization": "Bearer not-a-token"}, 401, "auth_invalid"),
        (hub.headers("mallory", roles=()), 403, "forbidden"),
        (hub.headers("mallory", roles=("editor",)), 403, "forbidden"),
    ]:
        response = await batch(hub, events, headers=headers)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    admin = await batch(hub, events, headers=hub.headers("root", ("admin",)))
    assert admin.status_code == 200
    assert admin.json()["results"][0]["seq"] == 1, "a refused batch stored something"


async def test_events_reach_subscribers_in_seq_order(hub: RunningHub) -> None:
    client = await welcomed(hub, "dana")
    try:
        events = [event("user:dana" if n % 2 == 0 else "user:erin", n) for n in range(400)]
        answer = await results(hub, events)
        received = await client.wait_for("batch.test", count=200)
        assert [e["seq"] for e in received] == list(range(1, 201))
        assert [e["id"] for e in received] == [answer[n]["id"] for n in range(0, 400, 2)]
        assert [e["data"]["n"] for e in received] == list(range(0, 400, 2))
        assert all(e["meta"]["sender"] == "svc" for e in received)
    finally:
        await client.close()


async def test_openapi_describes_the_batch_route(hub: RunningHub) -> None:
    async with hub.http() as http:
        spec = (await http.get("/openapi.json")).json()
    operation = spec["paths"]["/api/publish/batch"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["events"]["maxItems"] == MAX_BATCH_EVENTS
    assert "200" in operation["responses"]
    assert "201" in spec["paths"]["/api/publish"]["post"]["responses"]


async def test_a_batch_costs_a_few_commits_not_one_per_event(tmp_path: Path) -> None:
    async with ServedHub(tmp_path) as served:
        log = served.app.hub.log
        transactions: list[int] = []
        write = log._write_batch

        async def counted(items: list[Any]) -> None:
            transactions.append(len(items))
            await write(items)

        log._write_batch = counted
        answer = await results(served, [event(f"user:c{n % 100}", n) for n in range(MAX_BATCH_EVENTS)])
    assert all("seq" in result for result in answer)
    assert sum(transactions) == MAX_BATCH_EVENTS
    assert len(transactions) <= 10, transactions


async def test_a_batch_is_durable_across_a_restart(tmp_path: Path, database_url: str) -> None:
    running = start_hub(tmp_path, {"HUB_DATABASE_URL": database_url})
    try:
        answer = await results(running, [event("user:frank", n, id=f"durable-{n}") for n in range(50)])
    finally:
        running.stop()
    second = running.start()  # the same settings, database and secret, in a new process
    try:
        client = await welcomed(second, "frank")
        try:
            queued = await client.wait_for("batch.test", count=50)
            assert [(e["id"], e["seq"]) for e in queued] == [(r["id"], r["seq"]) for r in answer]
        finally:
            await client.close()
        # And a retry after the restart is still answered with the stored {id, seq}.
        assert await results(second, [event("user:frank", 0, id="durable-0")]) == [answer[0]]
    finally:
        second.stop()
