"""The broker's outbox on its own: order, batches, failures and stopping (no Redis needed).

Against Redis, with two real hub processes: ``tests/test_broker_burst.py``.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from hub.broker_outbox import MAX_BATCH, Message, Outbox, patient_timeout


class Recorder:
    """A ``send`` that keeps every batch, waiting on ``gate`` while it is closed, failing while ``failing``."""

    def __init__(self) -> None:
        self.batches: list[list[Message]] = []
        self.failures: list[tuple[str, int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.failing = False

    async def send(self, messages: list[Message]) -> None:
        await self.gate.wait()
        if self.failing:
            raise ConnectionError("redis went away")
        self.batches.append(messages)

    def failed(self, exc: BaseException, count: int) -> None:
        self.failures.append((str(exc), count))


async def test_a_burst_goes_in_emit_order_in_few_batches() -> None:
    recorder = Recorder()
    outbox = Outbox(recorder.send, recorder.failed)
    recorder.gate.clear()  # the first message's round trip is slow: the rest queue behind it
    first = asyncio.create_task(outbox.put("m0"))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(outbox.put(f"m{n}")) for n in range(1, 2 * MAX_BATCH + 10)]
    await asyncio.sleep(0)
    recorder.gate.set()
    await asyncio.gather(first, *rest)

    assert [message for batch in recorder.batches for message in batch] == [f"m{n}" for n in range(2 * MAX_BATCH + 10)]
    assert [len(batch) for batch in recorder.batches] == [1, MAX_BATCH, MAX_BATCH, 9]
    assert recorder.failures == []
    await outbox.stop()


async def test_a_failed_batch_is_reported_never_raised_and_the_next_goes() -> None:
    recorder = Recorder()
    outbox = Outbox(recorder.send, recorder.failed)
    recorder.failing = True
    await asyncio.gather(*(outbox.put(f"lost{n}") for n in range(3)))  # returns: the caller is never failed
    assert recorder.failures == [("redis went away", 3)]
    recorder.failing = False
    await outbox.put("after")
    assert recorder.batches == [["after"]]
    await outbox.stop()


async def test_stop_releases_whoever_waits_and_later_messages_are_dropped() -> None:
    recorder = Recorder()
    outbox = Outbox(recorder.send, recorder.failed)
    recorder.gate.clear()
    waiting = [asyncio.create_task(outbox.put(f"m{n}")) for n in range(3)]
    await asyncio.sleep(0)
    await outbox.stop()
    await asyncio.wait_for(asyncio.gather(*waiting), 5)
    await outbox.put("after stop")
    assert recorder.batches == [] and len(outbox) == 0


async def test_a_cancelled_publisher_does_not_stop_the_others() -> None:
    recorder = Recorder()
    outbox = Outbox(recorder.send, recorder.failed)
    recorder.gate.clear()
    first = asyncio.create_task(outbox.put("m0"))
    second = asyncio.create_task(outbox.put("m1"))
    await asyncio.sleep(0)
    first.cancel()
    recorder.gate.set()
    await second
    assert recorder.batches == [["m0", "m1"]]
    await outbox.stop()


async def test_patient_timeout_still_times_out_a_peer_that_does_not_answer() -> None:
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    with pytest.raises(TimeoutError):
        async with patient_timeout(0.05):
            await never


async def test_patient_timeout_reads_a_reply_that_came_while_the_loop_was_stalled() -> None:
    # The loop is stuck past the deadline (a burst of fan-outs in one step); the reply is there
    # when it comes back, and must be read, not reported as a timeout.
    loop = asyncio.get_running_loop()
    reply: asyncio.Future[str] = loop.create_future()

    def stall() -> None:
        time.sleep(0.3)
        loop.call_soon(reply.set_result, "OK")  # as the socket's data, read after the stall

    loop.call_later(0.01, stall)
    async with patient_timeout(0.1):
        assert await reply == "OK"
