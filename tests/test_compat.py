"""hub._compat: the checked seam between the hub and its libraries' internals.

With the tested libraries every optimisation is on, and a websocket really
takes the fast path (its deliveries are counted in /metrics). With an internal
gone (simulated in the hub's process by a ``sitecustomize`` that changes the
library before the hub starts), the hub still starts, says which optimisation
is off and why (log, ``/api/health``, ``/metrics``), keeps ``status`` ok, and
delivers events to real clients on websocket and long-polling alike.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from hub._compat import CHECKS, check_internals
from hub._compat import client as compat_client
from hub.testing import DEFAULT_TIMEOUT, RunningHub, SocketRecorder, start_hub
from tests.support import patch_site
from tests.test_slow_consumer import bench_site

#: Each case: what the sitecustomize does to the library, and the optimisations it turns off.
SIMULATIONS = {
    "fastpath_and_light_sessions": (
        """
        from engineio.async_drivers import asgi

        # A driver table holding another websocket class, and a request translation that is
        # not the module's function: python-engineio still works, the hub's checks fail.
        asgi._async["websocket"] = type("ReplacedWebSocket", (asgi.WebSocket,), {})
        original = asgi._async["translate_request"]

        async def wrapped_translate(*args):
            return await original(*args)

        asgi._async["translate_request"] = wrapped_translate
        """,
        {"websocket_fastpath": "ReplacedWebSocket", "light_sessions": "wrapped_translate",
         "light_websocket": "needs websocket_fastpath, light_sessions"},
    ),
    "memory_paths": (
        """
        from engineio import async_socket
        from socketio import async_server

        # Wrappers doing the same work: the names the hub relies on are no longer in their code.
        upgrade = async_socket.AsyncSocket._upgrade_websocket
        schedule = async_socket.AsyncSocket.schedule_ping
        eio_connect = async_server.AsyncServer._handle_eio_connect

        async def wrapped_upgrade(self, environ):
            return await upgrade(self, environ)

        async def wrapped_eio_connect(self, sid, environ):
            return await eio_connect(self, sid, environ)

        async_socket.AsyncSocket._upgrade_websocket = wrapped_upgrade
        async_socket.AsyncSocket.schedule_ping = lambda self: schedule(self)
        async_server.AsyncServer._handle_eio_connect = wrapped_eio_connect
        """,
        {"light_websocket": "_upgrade_websocket", "shared_ping_timer": "schedule_ping",
         "trimmed_environ": "_handle_eio_connect"},
    ),
    "uvicorn_protocol_and_redis_probe": (
        """
        from socketio import async_pubsub_manager
        from uvicorn.protocols.websockets import websockets_sansio_impl as impl

        # Wrappers doing the same work: the names the hub relies on are no longer in their code.
        handle_connect = impl.WebSocketsSansIOProtocol.handle_connect
        impl.WebSocketsSansIOProtocol.handle_connect = lambda self, event: handle_connect(self, event)
        thread = async_pubsub_manager.AsyncPubSubManager._thread
        async_pubsub_manager.AsyncPubSubManager._thread = lambda self: thread(self)
        """,
        {"light_ws_protocol": "handle_connect", "light_ws_handshake": "handle_connect",
         "redis_broker_probe": "_thread"},
    ),
}


def test_every_optimisation_is_on_with_the_tested_libraries() -> None:
    # The test that fails first after a library upgrade, naming the internal that moved.
    report = check_internals()
    assert report.as_dict() == {name: "on" for name in CHECKS}
    assert compat_client.state() == "on"


def metric(text: str, sample: str) -> float:
    found = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    assert found is not None, f"{sample} not in /metrics"
    return float(found.group(1))


async def received_on(hub: RunningHub, transport: str, topic: str, n: int) -> None:
    """A real client on ``transport`` subscribes to ``topic`` and gets an event published to it."""
    client = SocketRecorder()
    await client.sio.connect(
        hub.url, auth={"token": hub.token(f"{transport}-user")}, transports=[transport], wait_timeout=DEFAULT_TIMEOUT
    )
    try:
        await client.wait_for("hub.welcome")
        assert (await client.call("subscribe", {"topic": topic}))["ok"] is True
        await hub.publish(topic, "compat.tick", {"n": n})
        (event,) = await client.wait_for("compat.tick", where=lambda data: data["data"]["n"] == n)
        assert event["topic"] == topic
    finally:
        await client.close()


def compat_hub(tmp_path: Path, sitecustomize: str | None = None, env: dict[str, str] | None = None) -> RunningHub:
    paths = [str(bench_site(tmp_path / "site"))]
    if sitecustomize is not None:
        paths.insert(0, str(patch_site(tmp_path / "patch", sitecustomize)))
    path = os.pathsep.join(filter(None, [*paths, os.environ.get("PYTHONPATH", "")]))
    # Short pings: python-socketio's long-polling client waits for its pending GET when it leaves.
    return start_hub(tmp_path / "hub", env={"PYTHONPATH": path, "HUB_PING_INTERVAL": "1", **(env or {})})


async def test_a_websocket_takes_the_fast_path_and_long_polling_does_not(tmp_path: Path) -> None:
    hub = compat_hub(tmp_path)
    try:
        async with hub.http() as http:
            health = (await http.get("/api/health")).json()
            assert health["optimisations"] == {name: "on" for name in CHECKS}
            before = metric((await http.get("/metrics")).text, "hub_fastpath_deliveries_total")
            await received_on(hub, "polling", "bench:polling", 1)
            after_polling = metric((await http.get("/metrics")).text, "hub_fastpath_deliveries_total")
            await received_on(hub, "websocket", "bench:websocket", 2)
            text = (await http.get("/metrics")).text
        assert after_polling == before  # long-polling: python-engineio's queue
        assert metric(text, "hub_fastpath_deliveries_total") >= before + 1  # the websocket's event
        assert metric(text, 'hub_optimisation_enabled{name="websocket_fastpath"}') == 1
    finally:
        hub.stop()


@pytest.mark.parametrize("case", sorted(SIMULATIONS))
async def test_with_an_internal_missing_the_hub_says_what_is_off_and_still_delivers(
    tmp_path: Path, case: str
) -> None:
    sitecustomize, off = SIMULATIONS[case]
    hub = compat_hub(tmp_path, sitecustomize)
    try:
        async with hub.http() as http:
            response = await http.get("/api/health")
            health = response.json()
            assert response.status_code == 200 and health["status"] == "ok"
            for name, state in health["optimisations"].items():
                if name in off:
                    assert state.startswith("off: ") and off[name] in state, (name, state)
                else:
                    assert state == "on", (name, state)
            # Still delivered, on the libraries' public behaviour.
            await received_on(hub, "websocket", "bench:ws", 1)
            await received_on(hub, "polling", "bench:poll", 2)
            text = (await http.get("/metrics")).text
        for name in CHECKS:
            assert metric(text, f'hub_optimisation_enabled{{name="{name}"}}') == (0 if name in off else 1)
        if "websocket_fastpath" in off:
            assert metric(text, "hub_fastpath_deliveries_total") == 0
        log = hub.log()
        for name in off:
            assert re.search(rf"WARNING hub\.compat: optimisation {name} is off: ", log), log
    finally:
        hub.stop()


@pytest.mark.redis
async def test_without_the_broker_probe_events_still_cross_processes(tmp_path: Path, redis_url: str) -> None:
    sitecustomize, _ = SIMULATIONS["uvicorn_protocol_and_redis_probe"]
    env = {"HUB_REDIS_URL": redis_url, "HUB_REDIS_PREFIX": f"compat-{os.getpid()}-{tmp_path.name}"}
    publisher = compat_hub(tmp_path / "a", sitecustomize, env)
    receiver = compat_hub(tmp_path / "b", sitecustomize, env)
    try:
        async with receiver.http() as http:
            health = (await http.get("/api/health")).json()
        assert health["status"] == "ok" and health["broker"] == "ok"
        assert health["optimisations"]["redis_broker_probe"].startswith("off: ")
        client = SocketRecorder()
        await client.connect(receiver, receiver.token("bob"), transport="websocket")
        try:
            await client.wait_for("hub.welcome")
            assert (await client.call("subscribe", {"topic": "bench:across"}))["ok"] is True
            # python-socketio's own Redis manager carries it from one process to the other.
            await publisher.publish("bench:across", "compat.tick", {"n": 7})
            (event,) = await client.wait_for("compat.tick")
            assert event["data"] == {"n": 7}
        finally:
            await client.close()
    finally:
        publisher.stop()
        receiver.stop()
