"""The publish routes' lean path (hub/publish_fast.py) answers exactly as the Starlette routes do.

Two real hubs (``hub serve``, uvicorn on loopback): one as shipped, where
``POST /api/publish`` and ``/api/publish/batch`` are served from the top of the
app and answered in one write, and a reference whose lean path is switched off
(a ``sitecustomize`` in its process), so every request goes through Starlette's
middlewares and router. The same raw HTTP/1.1 requests, success and every kind
of error, get the same bytes back from both (status line, headers but the
date, body), and the error counters of ``/metrics`` end up the same. A third
hub has uvicorn's response internals changed, so ``one_write_response`` is off
and the lean path sends its answers in two messages: the same bytes again.
"""

from __future__ import annotations

import asyncio
import os
import re
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub.app import create_app
from hub.config import load_settings
from hub.jsoncodec import encode_json
from hub.publish_fast import vary_origin
from hub.testing import DEFAULT_TIMEOUT, RunningHub, start_hub, welcomed

MAX_MESSAGE_BYTES = 2048

NO_FAST_PATH = """
from hub.publish_fast import PublishFastPath

PublishFastPath.match = lambda self, scope: None
PublishFastPath.direct = lambda self, hub: None
"""
TWO_WRITES = """
from uvicorn.protocols.http import httptools_impl

# A wrapper doing the same work: the names one_write_response relies on are not in its code.
send = httptools_impl.RequestResponseCycle.send

async def wrapped_send(self, message):
    await send(self, message)

httptools_impl.RequestResponseCycle.send = wrapped_send
"""


def patched_hub(directory: Path, sitecustomize: str | None) -> RunningHub:
    env = {"HUB_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES)}
    if sitecustomize is not None:
        patch = directory / "patch"
        patch.mkdir(parents=True)
        (patch / "sitecustomize.py").write_text(textwrap.dedent(sitecustomize))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(patch), os.environ.get("PYTHONPATH", "")]))
    return start_hub(directory / "hub", env=env)


@pytest.fixture(scope="module")
def hubs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningHub]]:
    started: dict[str, RunningHub] = {}
    try:
        for name, patch in (("fast", None), ("reference", NO_FAST_PATH), ("two_writes", TWO_WRITES)):
            started[name] = patched_hub(tmp_path_factory.mktemp(name), patch)
        yield started
    finally:
        for running in started.values():
            running.stop()


async def exchange(hub: RunningHub, request: bytes) -> bytes:
    """One raw HTTP/1.1 request on a fresh connection; the whole response (head and body) as sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEFAULT_TIMEOUT)
        length = re.search(rb"\r\ncontent-length: (\d+)\r\n", head.lower())
        assert length is not None, head
        body = await asyncio.wait_for(reader.readexactly(int(length.group(1))), DEFAULT_TIMEOUT)
        return head + body
    finally:
        writer.close()


def without_date(response: bytes) -> bytes:
    return re.sub(rb"\r\ndate: [^\r]*", b"", response)


def post(path: str, body: bytes | None, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "host: hub", *(f"{name}: {value}" for name, value in headers.items())]
    if body is not None and "transfer-encoding" not in headers:
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def chunked(body: bytes, size: int = 512) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[n:n + size]), body[n:n + size]) for n in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


JSON = {"content-type": "application/json"}


def service(hub: RunningHub) -> dict[str, str]:
    return {**hub.headers(), **JSON}


def event(topic: str = "user:fast", **fields: object) -> dict[str, object]:
    return {"topic": topic, "type": "fast.test", "data": {"n": 1}, **fields}


#: name: (path, the request's headers for a hub, body). Every answer the two routes give.
CASES: dict[str, tuple[str, Callable[[RunningHub], dict[str, str]], bytes | None]] = {
    "published": ("/api/publish", service, encode_json(event(id="fast-1"))),
    "published again (same id)": ("/api/publish", service, encode_json(event(id="fast-1"))),
    "charset parameter": ("/api/publish", lambda hub: {**hub.headers(), "content-type": "application/json; charset=utf-8"},
                          encode_json(event(id="fast-2"))),
    "no token": ("/api/publish", lambda hub: JSON, encode_json(event())),
    "not a bearer header": ("/api/publish", lambda hub: {"authorization": "Basic x", **JSON}, encode_json(event())),
    "bad token": ("/api/publish", lambda hub: {"authorization": "Bearer nope", **JSON}, encode_json(event())),
    "expired token": ("/api/publish", lambda hub: {"authorization": f"Bearer {hub.token('svc', ['service'], ttl=-120)}",
                                                   **JSON}, encode_json(event())),
    "no role": ("/api/publish", lambda hub: {**hub.headers("eve", ()), **JSON}, encode_json(event())),
    "text/plain": ("/api/publish", lambda hub: {**hub.headers(), "content-type": "text/plain"}, encode_json(event())),
    "no content type": ("/api/publish", lambda hub: hub.headers(), encode_json(event())),
    "declared too large": ("/api/publish", service, encode_json(event(data={"x": "y" * MAX_MESSAGE_BYTES}))),
    "chunked too large": ("/api/publish", lambda hub: {**service(hub), "transfer-encoding": "chunked"},
                          chunked(encode_json(event(data={"x": "y" * MAX_MESSAGE_BYTES})))),
    "chunked": ("/api/publish", lambda hub: {**service(hub), "transfer-encoding": "chunked"},
                chunked(encode_json(event(id="fast-3", data={"x": "y" * 1500})))),
    "not JSON": ("/api/publish", service, b"{nope"),
    "empty body": ("/api/publish", service, b""),
    "a list": ("/api/publish", service, b"[1, 2]"),
    "no topic": ("/api/publish", service, b'{"type": "fast.test"}'),
    "no type": ("/api/publish", service, b'{"topic": "user:fast"}'),
    "id not a string": ("/api/publish", service, encode_json(event(id=7))),
    "invalid topic": ("/api/publish", service, encode_json(event("Not A Topic"))),
    "unknown kind": ("/api/publish", service, encode_json(event("nosuchkind:x"))),
    "invalid type": ("/api/publish", service, encode_json({**event(), "type": "NotAType"})),
    "data not an object": ("/api/publish", service, encode_json(event(data=[1]))),
    "batch": ("/api/publish/batch", service, encode_json({"events": [event(id="b-1"), event("nosuchkind:x"), "x"]})),
    "batch retried": ("/api/publish/batch", service, encode_json({"events": [event(id="b-1"), event(id="b-2")]})),
    "batch over the event limit": ("/api/publish/batch", service, encode_json({"events": [event()] * 1001})),
    "batch malformed": ("/api/publish/batch", service, b'{"events": "x"}'),
    "batch no role": ("/api/publish/batch", lambda hub: {**hub.headers("eve", ("editor",)), **JSON},
                      encode_json({"events": []})),
    "cross-origin (left to the middlewares)": ("/api/publish", lambda hub: {**service(hub), "origin": hub.url},
                                               encode_json(event(id="fast-4"))),
    "batch text/plain": ("/api/publish/batch", lambda hub: {**hub.headers(), "content-type": "text/plain"},
                         encode_json({"events": []})),
}


async def test_every_answer_is_the_routes_answer_byte_for_byte(hubs: dict[str, RunningHub]) -> None:
    # In order on every hub, so that idempotent retries and seqs line up.
    for name, (path, headers, body) in CASES.items():
        answers = {
            hub_name: without_date(await exchange(hub, post(path, body, headers(hub))))
            for hub_name, hub in hubs.items()
        }
        assert answers["fast"] == answers["reference"], name
        assert answers["two_writes"] == answers["reference"], name
    counters = {}
    for hub_name, hub in hubs.items():
        async with hub.http() as http:
            text = (await http.get("/metrics")).text
        counters[hub_name] = sorted(re.findall(r"^hub_http_errors_total\{.*$", text, re.MULTILINE))
    assert counters["fast"] == counters["reference"] == counters["two_writes"]
    assert any('code="too_large"' in line for line in counters["fast"])


async def test_keep_alive_connection_serves_many_publishes_and_other_routes(hubs: dict[str, RunningHub]) -> None:
    hub = hubs["fast"]
    async with hub.http() as http:  # one keep-alive connection
        for n in range(20):
            response = await http.post("/api/publish", json=event("user:keep", id=f"k-{n}"), headers=hub.headers())
            assert (response.status_code, response.json()) == (201, {"id": f"k-{n}", "seq": n + 1})
            assert (await http.get("/api/health")).status_code == 200


async def test_published_events_reach_a_subscriber(hubs: dict[str, RunningHub]) -> None:
    hub = hubs["fast"]
    client = await welcomed(hub, "reader")
    try:
        await hub.publish("user:reader", "fast.delivered", {"n": 1})
        (delivered,) = await client.wait_for("fast.delivered")
        assert delivered["seq"] == 1 and delivered["data"] == {"n": 1}
    finally:
        await client.close()


async def test_the_one_write_optimisation_is_reported(hubs: dict[str, RunningHub]) -> None:
    async with hubs["fast"].http() as http:
        assert (await http.get("/api/health")).json()["optimisations"]["one_write_response"] == "on"
    async with hubs["two_writes"].http() as http:
        health = (await http.get("/api/health")).json()
        text = (await http.get("/metrics")).text
    assert health["status"] == "ok"
    assert health["optimisations"]["one_write_response"].startswith("off: ")
    assert 'hub_optimisation_enabled{name="one_write_response"} 0.0' in text
    assert re.search(r"WARNING hub\.compat: optimisation one_write_response is off: ", hubs["two_writes"].log())


def test_vary_origin_is_set_as_the_cors_middleware_sets_it() -> None:
    from starlette.datastructures import MutableHeaders

    for raw in ([(b"content-length", b"2")], [(b"vary", b"Accept"), (b"x", b"1"), (b"vary", b"Cookie")]):
        headers = MutableHeaders(raw=list(raw))
        headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])  # what CORSMiddleware.send does
        assert vary_origin(raw) == headers.raw


@pytest.mark.parametrize(
    "method,path,headers,root_path,served",
    [
        ("POST", "/api/publish", [], "", True),
        ("POST", "/api/publish/batch", [(b"content-type", b"application/json")], "", True),
        ("GET", "/api/publish", [], "", False),
        ("OPTIONS", "/api/publish", [(b"origin", b"http://a.example")], "", False),
        ("POST", "/api/publish/", [], "", False),
        ("POST", "/api/publish", [(b"origin", b"http://a.example")], "", False),
        ("POST", "/api/publish", [], "/hub", False),
        ("POST", "/api/health", [], "", False),
    ],
)
def test_which_requests_take_the_lean_path(
    tmp_path: Path, method: str, path: str, headers: list[tuple[bytes, bytes]], root_path: str, served: bool
) -> None:
    settings = load_settings(environ={"HUB_DATABASE_URL": "memory://", "HUB_JWT_SECRET": "s" * 32,
                                      "HUB_DATA_DIR": str(tmp_path)})
    app = create_app(settings)
    assert app.fast_path is not None
    scope = {"type": "http", "method": method, "path": path, "root_path": root_path, "headers": headers}
    assert (app.fast_path.match(scope) is not None) is served
    assert app.fast_path.match({"type": "websocket", "path": path, "headers": []}) is None


async def exchange_all(hub: RunningHub, parts: list[bytes], pause: float = 0.0) -> bytes:
    """Write ``parts`` on one connection (``pause`` seconds apart); everything read until the hub closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    try:
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(pause)
        return await asyncio.wait_for(reader.read(), DEFAULT_TIMEOUT)
    finally:
        writer.close()


async def test_pipelined_requests_are_answered_in_order_as_the_routes_answer(hubs: dict[str, RunningHub]) -> None:
    # Sent in one write: the direct path, the app's path and an error between them, each answered in turn;
    # the last asks to close the connection.
    def requests(hub: RunningHub) -> bytes:
        return b"".join([
            post("/api/publish", encode_json(event("user:pipe", id="p-1")), service(hub)),
            post("/api/publish/batch", encode_json({"events": [event("user:pipe", id="p-2")]}), service(hub)),
            post("/api/publish", b"{nope", service(hub)),
            post("/api/publish", encode_json(event("user:pipe", id="p-3")), {**service(hub), "connection": "close"}),
        ])

    answers = {name: without_date(await exchange_all(hub, [requests(hub)])) for name, hub in hubs.items()}
    assert answers["fast"] == answers["reference"] == answers["two_writes"]
    assert answers["fast"].count(b"HTTP/1.1 ") == 4
    assert b'"id":"p-3","seq":3' in answers["fast"] and answers["fast"].count(b"connection: close") == 1


async def test_a_body_that_arrives_in_pieces_is_read_whole(hubs: dict[str, RunningHub]) -> None:
    answers = {}
    for name, hub in hubs.items():
        body = encode_json(event("user:pieces", id="pieces-1", data={"x": "y" * 1000}))
        request = post("/api/publish", body, {**service(hub), "connection": "close"})
        head = request.index(b"\r\n\r\n") + 4
        parts = [request[:head], request[head:head + 10], request[head + 10:]]
        answers[name] = without_date(await exchange_all(hub, parts, pause=0.05))
    assert answers["fast"] == answers["reference"] == answers["two_writes"]
    assert answers["fast"].startswith(b"HTTP/1.1 201 Created\r\n")


async def test_http_1_0_and_expect_continue_are_answered_as_the_routes_answer(hubs: dict[str, RunningHub]) -> None:
    for n, (version, extra) in enumerate([("HTTP/1.0", {}), ("HTTP/1.1", {"expect": "100-continue", "connection": "close"})]):
        answers = {}
        for name, hub in hubs.items():
            request = post("/api/publish", encode_json(event("user:old", id=f"old-{n}")), {**service(hub), **extra})
            answers[name] = without_date(await exchange_all(hub, [request.replace(b"HTTP/1.1", version.encode(), 1)]))
        assert answers["fast"] == answers["reference"] == answers["two_writes"], version
        assert b" 201 Created\r\n" in answers["fast"]


async def test_the_direct_path_is_reported(hubs: dict[str, RunningHub]) -> None:
    async with hubs["fast"].http() as http:
        assert (await http.get("/api/health")).json()["optimisations"]["direct_publish"] == "on"
    async with hubs["two_writes"].http() as http:
        # The same uvicorn change turns this one off too: those publishes go through ASGI.
        assert (await http.get("/api/health")).json()["optimisations"]["direct_publish"].startswith("off: ")
    assert re.search(r"WARNING hub\.compat: optimisation direct_publish is off: ", hubs["two_writes"].log())


class FakeTransport:
    """What uvicorn's protocol uses of a transport, keeping what it writes."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def test_the_protocol_answers_a_publish_without_asgi_as_uvicorn_does(tmp_path: Path) -> None:
    """In one process: the hub's protocol takes the request itself, and writes the bytes uvicorn's would."""
    from uvicorn.config import Config
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    from hub._compat import uvicorn_http
    from hub.auth import mint_token

    settings = load_settings(environ={"HUB_DATABASE_URL": "memory://", "HUB_JWT_SECRET": "s" * 32,
                                      "HUB_DATA_DIR": str(tmp_path), "HUB_LOG_LEVEL": "warning"})
    app = create_app(settings)
    await app.hub.start()
    try:
        config = Config(app, lifespan="off", access_log=False, log_level="warning")
        config.load()
        token = mint_token("s" * 32, "svc", ["service"])
        answers = {}
        fast = uvicorn_http.protocol_class(direct_publish=True, light_upgrade=False)
        for name, protocol_class in (("fast", fast), ("asgi", HttpToolsProtocol)):
            state = ServerState()
            state.default_headers = [(b"date", b"Sun, 06 Dec 2026 12:00:00 GMT"), (b"server", b"uvicorn")]
            protocol = protocol_class(config=config, server_state=state, app_state={})
            transport = FakeTransport()
            protocol.connection_made(transport)
            for n in range(3):
                body = encode_json(event(f"user:{name}", id=f"{name}-{n}"))
                protocol.data_received(post("/api/publish", body, {"authorization": f"Bearer {token}", **JSON}))
                if name == "fast":
                    assert type(protocol.cycle).__name__ == "_DirectCycle"
                for _ in range(50):
                    if protocol.cycle.response_complete:
                        break
                    await asyncio.sleep(0.01)
            protocol.connection_lost(None)
            answers[name] = b"".join(transport.written).replace(name.encode(), b"NAME")
        assert answers["fast"] == answers["asgi"]
        assert answers["fast"].count(b"HTTP/1.1 201 Created\r\ndate: ") == 3
    finally:
        await app.hub.stop()
