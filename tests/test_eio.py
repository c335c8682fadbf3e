"""hub.eio: the lighter queue and request translation python-engineio runs on in the hub.

The wire behaviour (websocket and long-polling) is covered by the client tests;
these check the pieces against what python-engineio expects of them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hub.eio import LightQueue, translate_request


async def test_light_queue_is_fifo_and_wakes_a_waiting_getter() -> None:
    queue = LightQueue()
    assert queue.empty() and queue.qsize() == 0
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    await queue.put("a")
    queue.put_nowait("b")
    assert await asyncio.wait_for(waiting, 1) == "a"
    assert queue.qsize() == 1 and await queue.get() == "b" and queue.empty()


async def test_a_cancelled_getter_does_not_swallow_an_item() -> None:
    # python-engineio's poll() waits with wait_for, which cancels the getter on timeout.
    queue = LightQueue()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(queue.get(), 0.01)
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("packet")
    first.cancel()  # woken, then cancelled before it ran: the wake-up passes to the next getter
    assert await asyncio.wait_for(second, 1) == "packet"
    assert first.cancelled()


async def test_join_waits_for_task_done() -> None:
    queue = LightQueue()
    await asyncio.wait_for(queue.join(), 1)  # nothing unfinished
    queue.put_nowait(1)
    queue.put_nowait(2)
    joined = asyncio.create_task(queue.join())
    for _ in range(2):
        await queue.get()
        await asyncio.sleep(0)
        assert not joined.done()
        queue.task_done()
    await asyncio.wait_for(joined, 1)
    with pytest.raises(ValueError):
        queue.task_done()


async def test_translate_request_builds_python_engineios_environ() -> None:
    chunks: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"hel", "more_body": True},
        {"type": "http.request", "body": b"lo", "more_body": True},
        {"type": "http.request", "body": b"!", "more_body": False},
    ]

    async def receive() -> dict[str, Any]:
        return chunks.pop(0)

    scope = {
        "type": "http", "method": "POST", "path": "/socket.io/", "query_string": b"EIO=4&transport=polling",
        "headers": [(b"content-type", b"text/plain"), (b"x-tag", b"a"), (b"x-tag", b"b"),
                    (b"x-forwarded-proto", b"https")],
    }
    environ = await translate_request(scope, receive, None)
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["QUERY_STRING"] == "EIO=4&transport=polling"
    assert environ["RAW_URI"] == "/socket.io/?EIO=4&transport=polling"
    assert environ["CONTENT_TYPE"] == "text/plain"
    assert environ["HTTP_X_TAG"] == "a,b"
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["asgi.scope"] is scope
    # As python-engineio reads a polling POST: CONTENT_LENGTH bytes, gathered over the chunks.
    assert await environ["wsgi.input"].read(6) == b"hello!"
    assert await environ["wsgi.input"].read() == b""
    assert await translate_request({"type": "lifespan"}, _lifespan, None) == {}


async def _lifespan() -> dict[str, Any]:
    return {"type": "lifespan.startup"}
