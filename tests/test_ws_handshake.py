"""The websocket opening handshake answered by the hub (optimisation ``light_ws_handshake``).

What a client sees must not change: every request below, good or bad, gets
the same status, headers and body from a ``hub serve`` with the light
handshake (and uvicorn's HTTP protocol handing it the parsed request, as
``hub serve`` runs it with :func:`hub._compat.http_protocol`)
as from one whose check failed, which answers with websockets' own code as
before. Per-message deflate is still negotiated when it is on; real
Socket.IO clients connect and get their events; the light path is really
taken; and the fallback says so in the log.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect as ws_connect
from websockets.server import ServerProtocol

from hub._compat import http_protocol, websocket_protocol
from hub._compat import uvicorn as compat_uvicorn
from hub._compat.checks import run
from hub._compat.handshake import accept_value, request_bytes, split_request
from hub.testing import DEFAULT_TIMEOUT, RunningHub, ServedHub, SocketRecorder, start_hub
from tests.support import patch_site

#: ``hub serve`` on uvicorn's own HTTP protocol (``http="auto"``), which rebuilds the upgrade request as bytes.
UVICORN_HTTP_SITE = """
    import uvicorn

    _run = uvicorn.run


    def run(app, **kwargs):
        kwargs["http"] = "auto"
        return _run(app, **kwargs)


    uvicorn.run = run
"""

#: A websockets whose handshake code is not the code the hub copied (a wrapper doing the same work).
FALLBACK_SITE = """
    from websockets.server import ServerProtocol

    process_request = ServerProtocol.process_request
    ServerProtocol.process_request = lambda self, request: process_request(self, request)
"""

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
PATH = "/socket.io/?EIO=4&transport=websocket"


def request(*headers: str, method: str = "GET", path: str = PATH, base: bool = True) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if base:
        lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13"]
    return ("\r\n".join([*lines, *headers]) + "\r\n\r\n").encode("latin-1")


#: What clients send, and what they get wrong. Each is answered alike with and without the light handshake.
REQUESTS = {
    "plain": request(),
    "node_client": request("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"),
    "browser": request("Origin: http://example.test", "User-Agent: Mozilla/5.0", "Pragma: no-cache",
                       "Accept-Language: en, fr;q=0.8", "Sec-WebSocket-Extensions: permessage-deflate",
                       method="GET", path="/socket.io/?EIO=4&transport=websocket&t=P1x%20y"),
    "deflate_params": request("Sec-WebSocket-Extensions: x-unknown, permessage-deflate; server_max_window_bits=10; "
                              "client_max_window_bits", "User-Agent: Mozilla/5.0"),
    "keep_alive_upgrade": request(base=False, *["Upgrade: WebSocket", "Connection: keep-alive, Upgrade",
                                                f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13"]),
    "subprotocol": request("Sec-WebSocket-Protocol: chat, superchat"),
    "bad_subprotocol": request("Sec-WebSocket-Protocol: a b"),
    "empty_body": request("Content-Length: 0"),
    "latin1_value": request("X-Name: caf\xe9"),
    "no_key": request(base=False, *["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13"]),
    "bad_key": request(base=False, *["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: not base64!",
                                      "Sec-WebSocket-Version: 13"]),
    "short_key": request(base=False, *["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: c2hvcnQ=",
                                        "Sec-WebSocket-Version: 13"]),
    "two_keys": request(f"Sec-WebSocket-Key: {KEY}"),
    "no_version": request(base=False, *["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}"]),
    "old_version": request(base=False, *["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}",
                                          "Sec-WebSocket-Version: 8"]),
    "two_versions": request("Sec-WebSocket-Version: 13"),
    "two_origins": request("Origin: http://a.test", "Origin: http://b.test"),
    "two_upgrades": request(base=False, *["Upgrade: h2c", "Upgrade: websocket", "Connection: Upgrade",
                                           f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13"]),
    "post": request(method="POST"),
    "long_header": request("X-Long: " + "a" * 9000),
    "no_upgrade": request(base=False, *["Connection: keep-alive"]),
}


def normalised(response: bytes) -> bytes:
    """The response with its Date values (the second it was sent) and Engine.IO's session id blanked."""
    response = re.sub(rb"(?im)^(date: )[^\r\n]*", rb"\1-", response)
    return re.sub(rb'"sid":"[^"]+"', b'"sid":"-"', response)


async def answer(port: int, data: bytes) -> bytes:
    """What the server sends back for ``data``: the head and body, or the 101's head only."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        except asyncio.IncompleteReadError as exc:
            return b"<closed> " + exc.partial
        except asyncio.TimeoutError:
            return b"<no answer>"
        if head.startswith(b"HTTP/1.1 101 "):
            return head
        length = re.search(rb"(?im)^content-length: *(\d+)", head)
        body = await asyncio.wait_for(reader.readexactly(int(length.group(1))), 3) if length else b""
        return head + body
    finally:
        writer.close()


@pytest.fixture(scope="module")
def hubs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningHub]]:
    """``light``: the light handshake handed the parsed request; ``ws``: with uvicorn's own HTTP protocol;
    ``fallback``: websockets' handshake (the check failed); the ``_deflate`` pair with compression on."""
    tmp = tmp_path_factory.mktemp("handshake")
    sites = {"ws": UVICORN_HTTP_SITE, "fallback": FALLBACK_SITE}
    specs = {"light": (None, {}), "ws": ("ws", {}), "fallback": ("fallback", {}),
             "light_deflate": (None, {"HUB_WS_COMPRESSION": "1"}),
             "fallback_deflate": ("fallback", {"HUB_WS_COMPRESSION": "1"})}
    started: dict[str, RunningHub] = {}
    try:
        for name, (site, env) in specs.items():
            paths = [os.environ.get("PYTHONPATH", "")]
            if site is not None:
                paths.insert(0, str(patch_site(tmp / f"site-{name}", sites[site])))
            started[name] = start_hub(tmp / name, env={"PYTHONPATH": os.pathsep.join(filter(None, paths)), **env})
        yield started
    finally:
        for hub in started.values():
            hub.stop()


def test_the_light_handshake_is_on_with_the_tested_libraries() -> None:
    assert run(compat_uvicorn.check_handshake) == "on"
    assert hasattr(compat_uvicorn.protocol_class(handshake=True), "hub_upgrade")
    assert not hasattr(compat_uvicorn.protocol_class(), "hub_upgrade")


async def test_every_request_gets_the_answer_websockets_gave(hubs: dict[str, RunningHub]) -> None:
    for name, data in REQUESTS.items():
        expected = normalised(await answer(hubs["fallback"].port, data))
        for hub in ("light", "ws"):
            assert normalised(await answer(hubs[hub].port, data)) == expected, (name, hub)


async def test_the_answers_clients_see(hubs: dict[str, RunningHub]) -> None:
    port = hubs["light"].port
    switching = await answer(port, REQUESTS["node_client"])
    assert switching == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        + re.search(rb"date: [^\r]+\r\n", switching).group(0)  # type: ignore[union-attr]
        + b"server: uvicorn\r\n\r\n"
    )
    statuses = {name: (await answer(port, REQUESTS[name])).split(b"\r\n", 1)[0] for name in (
        "bad_key", "short_key", "two_keys", "old_version", "two_origins", "two_upgrades", "post", "long_header",
        "subprotocol")}
    assert statuses == {
        "bad_key": b"HTTP/1.1 400 Bad Request", "short_key": b"HTTP/1.1 400 Bad Request",
        "two_keys": b"HTTP/1.1 400 Bad Request", "old_version": b"HTTP/1.1 400 Bad Request",
        "two_origins": b"HTTP/1.1 400 Bad Request", "two_upgrades": b"HTTP/1.1 426 Upgrade Required",
        "post": b"HTTP/1.1 405 Method Not Allowed",
        # websockets makes a 431 that uvicorn never writes (no request event comes out of its parser).
        "long_header": b"<no answer>",
        "subprotocol": b"HTTP/1.1 101 Switching Protocols",
    }
    assert b"Failed to open a WebSocket connection: invalid Sec-WebSocket-Key header" in await answer(
        port, REQUESTS["bad_key"])


async def test_per_message_deflate_is_still_negotiated(hubs: dict[str, RunningHub]) -> None:
    for name in ("node_client", "deflate_params", "plain"):
        light = normalised(await answer(hubs["light_deflate"].port, REQUESTS[name]))
        assert light == normalised(await answer(hubs["fallback_deflate"].port, REQUESTS[name])), name
        assert (b"Sec-WebSocket-Extensions: permessage-deflate" in light) == (name != "plain"), name
    # A real client that offers compression gets it, and the Engine.IO open packet through it.
    url = f"ws://127.0.0.1:{hubs['light_deflate'].port}{PATH}"
    async with ws_connect(url) as ws:
        assert [extension.name for extension in ws.protocol.extensions] == ["permessage-deflate"]
        assert str(await asyncio.wait_for(ws.recv(), DEFAULT_TIMEOUT)).startswith('0{"sid":')
    async with ws_connect(f"ws://127.0.0.1:{hubs['light'].port}{PATH}") as ws:  # compression off: declined
        assert ws.protocol.extensions == []
        assert str(await asyncio.wait_for(ws.recv(), DEFAULT_TIMEOUT)).startswith('0{"sid":')


async def received(hub: RunningHub, topic: str) -> None:
    client = SocketRecorder()
    await client.connect(hub, hub.token("alice"), transport="websocket")
    try:
        await client.wait_for("hub.welcome")
        assert (await client.call("subscribe", {"topic": topic}))["ok"] is True
        await hub.publish(topic, "handshake.tick", {"n": 1})
        (event,) = await client.wait_for("handshake.tick")
        assert event["data"] == {"n": 1}
    finally:
        await client.close()


async def test_socketio_clients_connect_on_each_path(hubs: dict[str, RunningHub]) -> None:
    for name in ("light", "ws", "fallback", "light_deflate"):
        await received(hubs[name], "user:alice")


async def test_the_fallback_says_so(hubs: dict[str, RunningHub]) -> None:
    log = hubs["fallback"].log()
    assert len(re.findall(r"WARNING hub\.compat: optimisation light_ws_handshake is off: "
                          r"websockets\.server\.ServerProtocol\.process_request changed", log)) == 1, log
    assert "light_ws_handshake" not in hubs["light"].log()
    for name, state in (("fallback", "off: "), ("light", "on")):
        async with hubs[name].http() as http:
            optimisations = (await http.get("/api/health")).json()["optimisations"]
        assert optimisations["light_ws_handshake"].startswith(state), optimisations
        assert optimisations["light_ws_protocol"] == "on"


def accepted_by_websockets(data: bytes, extensions: bool) -> tuple[str, list[tuple[bytes, bytes]]] | None:
    """websockets' own verdict on a request: its Sec-WebSocket-Accept and the headers uvicorn puts in the scope."""
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

    factories = [ServerPerMessageDeflateFactory()] if extensions else []
    protocol = ServerProtocol(extensions=factories)
    protocol.receive_data(data)
    events = protocol.events_received()
    if not events:
        return None
    response = protocol.accept(events[0])
    if response.status_code != 101:
        return None
    headers = [(key.encode("ascii"), value.encode("latin-1")) for key, value in events[0].headers.raw_items()]
    return response.headers["Sec-WebSocket-Accept"], headers


@pytest.mark.parametrize("extensions", [False, True])
def test_what_the_light_check_takes_websockets_accepts_alike(extensions: bool) -> None:
    # Requests as uvicorn hands them over (names lower-cased by httptools), some only websockets can answer.
    variants: list[list[tuple[bytes, bytes]]] = []
    base = [(b"host", b"h"), (b"upgrade", b"websocket"), (b"connection", b"Upgrade"),
            (b"sec-websocket-key", KEY.encode()), (b"sec-websocket-version", b"13")]
    variants.append(base)
    for extra in [(b"origin", b"http://a"), (b"sec-websocket-extensions", b"permessage-deflate"),
                  (b"x", b" padded"), (b"x", b"padded\t"), (b"x", b"\x7f"), (b"x", b"caf\xe9"), (b"x y", b"1"),
                  (b"content-length", b"0"), (b"content-length", b"3"), (b"transfer-encoding", b"chunked"),
                  (b"sec-websocket-protocol", b"chat"), (b"connection", b"close"), (b"upgrade", b"websocket"),
                  (b"sec-websocket-key", KEY.encode()), (b"x", b"a" * 8200), (b"x", b"")]:
        variants.append([*base, extra])
    for name, value in [(b"upgrade", b"WebSocket"), (b"upgrade", b"websocket, h2c"), (b"upgrade", b"websocket/13"),
                        (b"connection", b"keep-alive, Upgrade"), (b"connection", b"keep-alive,,Upgrade"),
                        (b"connection", b"Upgrade, "), (b"connection", b"keep-alive"),
                        (b"sec-websocket-key", b"c2hvcnQ="), (b"sec-websocket-key", b"not base64 at all!!!"),
                        (b"sec-websocket-version", b"13 "), (b"sec-websocket-version", b"8")]:
        variants.append([(n, value if n == name else v) for n, v in base])
    variants.append(base + [(b"x%d" % i, b"1") for i in range(130)])
    taken = 0
    for headers in variants:
        for url in (b"/socket.io/?EIO=4&transport=websocket", b"/a%20b", b"/" + b"p" * 8200):
            data = request_bytes("GET", url, headers)
            light = accept_value(*split_request(data), extensions)  # type: ignore[misc]
            websockets = accepted_by_websockets(data, extensions)
            if light is not None:
                taken += 1
                assert websockets is not None and websockets == (light, headers), (url, headers)
    assert taken >= 8  # the common requests do take the light path
    assert accept_value("POST", b"/", base, False) is None


async def test_the_light_path_is_taken(tmp_path: Path) -> None:
    # websockets records every handshake it checks itself (accept_called); the light path does not call it.
    async with ServedHub(tmp_path / "served") as hub:
        await light_path_taken(hub, hub._server)


async def test_the_light_path_is_taken_through_uvicorns_http_protocol(tmp_path: Path) -> None:
    hub = ServedHub(tmp_path / "served-http")
    from hub.app import create_app
    from hub.config import load_settings

    hub.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(load_settings(environ=hub.env))
    protocol = http_protocol(app.hub.sio)
    assert isinstance(protocol, type) and protocol.__name__ == "HubHttpToolsProtocol"
    config = uvicorn.Config(app, host="127.0.0.1", port=hub.port, log_level="warning", lifespan="on",
                            ws=websocket_protocol(app.hub.sio), http=protocol, ws_ping_interval=None)
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    try:
        while not server.started:
            assert not task.done()
            await asyncio.sleep(0.01)
        hub.app = app
        await light_path_taken(hub, server)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, DEFAULT_TIMEOUT)


async def light_path_taken(hub: RunningHub, server: Any) -> None:
    client = SocketRecorder()
    await client.connect(hub, hub.token("bob"), transport="websocket")
    try:
        await client.wait_for("hub.welcome")
        (protocol,) = [p for p in server.server_state.connections if hasattr(p, "conn")]
        assert protocol.conn.accept_called is False and protocol.handshake_complete
        assert protocol.scope["headers"] == [] and protocol.request is None
        assert protocol.client[0] == "127.0.0.1" and protocol.server == ("127.0.0.1", hub.port)
    finally:
        await client.close()
