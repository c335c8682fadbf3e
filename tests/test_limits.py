"""Limits on every input: a bad client gets its error code and hurts nobody else."""

from __future__ import annotations

import asyncio

import pytest

from hub.testing import RunningHub, SocketRecorder, start_hub, welcomed


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory):
    running = start_hub(
        tmp_path_factory.mktemp("limits"),
        env={"HUB_MAX_MESSAGE_BYTES": "4096", "HUB_RATE_LIMIT": "5", "HUB_RATE_BURST": "10"},
    )
    yield running
    running.stop()


connect = welcomed  # a client that has received hub.welcome


async def bystander_still_receives(hub: RunningHub, bystander: SocketRecorder, marker: str) -> None:
    await hub.publish(f"user:{bystander_user(bystander)}", "still.alive", {"marker": marker})
    await bystander.wait_for("still.alive", lambda data: data["data"]["marker"] == marker)


def bystander_user(client: SocketRecorder) -> str:
    return str(client.of_type("hub.welcome")[0]["data"]["user"])


async def test_oversized_request_is_too_large_and_the_connection_survives(hub: RunningHub) -> None:
    bad, good = await connect(hub, "big"), await connect(hub, "bystander1")
    try:
        reply = await bad.call("subscribe", {"topic": "user:big", "padding": "x" * 10_000})
        assert reply["ok"] is False and reply["error"]["code"] == "too_large"
        assert (await bad.call("subscribe", {"topic": "user:big"}))["ok"] is True
        await bystander_still_receives(hub, good, "after-too-large")
    finally:
        await bad.close()
        await good.close()


async def test_a_huge_frame_closes_only_its_own_connection(hub: RunningHub) -> None:
    bad, good = await connect(hub, "huge"), await connect(hub, "bystander2")
    try:
        # Past Engine.IO's buffer limit the transport itself closes; nobody else notices.
        await bad.sio.emit("subscribe", {"topic": "user:huge", "padding": "x" * 2_000_000})
        await asyncio.wait_for(bad.disconnected.wait(), 10)
        await bystander_still_receives(hub, good, "after-huge")
    finally:
        await bad.close()
        await good.close()


@pytest.mark.parametrize(
    "event, args",
    [
        ("subscribe", ["just a string"]),
        ("subscribe", [{}]),
        ("subscribe", [{"topic": "user:m", "since": "yesterday"}]),
        ("subscribe", [{"topic": "user:m"}, {"extra": 1}]),
        ("publish", [{"topic": "user:m", "type": "Bad Type", "data": {}}]),
        ("publish", [{"topic": "user:m", "type": "a.b", "data": "notanobject"}]),
        ("ack", [{"ids": "notalist"}]),
        ("no.such.request", [{}]),
    ],
)
async def test_malformed_requests_are_invalid_message(hub: RunningHub, event: str, args: list) -> None:
    bad = await connect(hub, "malformed")
    try:
        reply = await bad.sio.call(event, tuple(args) if len(args) > 1 else args[0], timeout=10)
        assert reply["ok"] is False
        assert reply["error"]["code"] == "invalid_message"
        assert "Traceback" not in reply["error"]["message"]
    finally:
        await bad.close()


async def test_a_failed_request_without_ack_gets_hub_error(hub: RunningHub) -> None:
    client = await connect(hub, "noack")
    try:
        await client.sio.emit("subscribe", {"topic": "user:someone-else"})
        error = (await client.wait_for("hub.error"))[0]
        assert error["data"]["code"] == "forbidden" and error["data"]["request"] == "subscribe"
        assert error["topic"] == "user:noack"
    finally:
        await client.close()


async def test_rate_limit_per_connection(hub: RunningHub) -> None:
    flood, good = await connect(hub, "flood"), await connect(hub, "bystander3")
    try:
        replies = await asyncio.gather(
            *(flood.call("subscribe", {"topic": "user:flood"}) for _ in range(30))
        )
        codes = [reply["error"]["code"] for reply in replies if not reply["ok"]]
        assert codes and set(codes) == {"rate_limited"}
        assert sum(1 for reply in replies if reply["ok"]) <= 12
        # The other connection's own budget is untouched.
        assert (await good.call("subscribe", {"topic": "user:bystander3"}))["ok"] is True
        await bystander_still_receives(hub, good, "after-flood")
        # And the flooder recovers once it slows down.
        await asyncio.sleep(0.5)
        assert (await flood.call("subscribe", {"topic": "user:flood"}))["ok"] is True
    finally:
        await flood.close()
        await good.close()
