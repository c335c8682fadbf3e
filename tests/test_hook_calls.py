"""Hooks are called the pluggy way, each plugin isolated, decisions failing closed.

Three class plugins come from one faked installed distribution (a dist-info
with entry points on a temporary ``sys.path`` entry), loaded by the real
entry-point machinery into a hub served by uvicorn in this process, so the
test can read the plugins' instances and the log records:

- ``tripwire`` raises in ``hub_connect`` (sync), ``hub_subscribe`` (async)
  and ``hub_authorize_subscribe`` (for ``trip:boom``); registered last, pluggy calls it first;
- ``recorder`` owns the kind ``trip`` and records the hooks that reached it;
- ``watcher`` wraps ``hub_connect`` and ``hub_topic_kinds`` (``@hookimpl(wrapper=True)``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.plugins import plugin_object
from hub.testing import ServedHub, SocketRecorder

PLUGINS = '''
from hub import Contribution, TopicKind, anyone, hookimpl


class Tripwire:
    def __init__(self, hub):
        self.hub = hub

    @hookimpl
    def hub_connect(self, connection):
        raise RuntimeError("tripwire: connect")

    @hookimpl
    async def hub_subscribe(self, topic):
        raise RuntimeError("tripwire: subscribe")

    @hookimpl
    def hub_authorize_subscribe(self, topic):
        if topic == "trip:boom":
            raise RuntimeError("tripwire: authorize")


class Recorder:
    def __init__(self, hub):
        self.hub = hub
        self.calls = []

    @hookimpl
    def hub_topic_kinds(self):
        return [TopicKind(name="trip", can_subscribe=anyone)]

    @hookimpl
    async def hub_connect(self, connection):
        self.calls.append(("connect", connection.user))

    @hookimpl
    def hub_subscribe(self, connection, topic):
        self.calls.append(("subscribe", topic))


class Watcher:
    def __init__(self, hub):
        self.seen = []

    @hookimpl(wrapper=True)
    def hub_connect(self, connection):
        results = yield
        self.seen.append(("hub_connect", connection.user, len(results)))
        return results

    @hookimpl(wrapper=True)
    def hub_topic_kinds(self):
        results = yield
        self.seen.append(("hub_topic_kinds", sorted(c.plugin for c in results if isinstance(c, Contribution))))
        return results
'''


@pytest.fixture
def fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    site = tmp_path / "site"
    info = site / "hub_fixture_hooks-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hub-fixture-hooks\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[hub.plugins]\n"
        "recorder = hub_fixture_hooks:Recorder\n"
        "tripwire = hub_fixture_hooks:Tripwire\n"
        "watcher = hub_fixture_hooks:Watcher\n"
    )
    (site / "hub_fixture_hooks.py").write_text(PLUGINS)
    monkeypatch.syspath_prepend(str(site))
    yield
    sys.modules.pop("hub_fixture_hooks", None)


@pytest.fixture
async def served(fake_distribution: None, tmp_path: Path) -> AsyncIterator[ServedHub]:
    env = {"HUB_PLUGINS": "recorder,tripwire,watcher", "HUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"}
    async with ServedHub(tmp_path / "data", env) as hub:
        yield hub


async def connect(hub: ServedHub, user: str) -> SocketRecorder:
    client = await SocketRecorder().connect(hub, hub.token(user))
    await client.wait_for("hub.welcome")
    return client


def plugin(hub: ServedHub, name: str) -> Any:
    return plugin_object(hub.app.hub.pm, name)


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``check()``: hub_connect runs after the client has its welcome."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.01)


async def test_a_failing_connect_hook_is_logged_and_the_rest_carries_on(
    served: ServedHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="hub.plugins")
    alice = await connect(served, "alice")
    try:
        # pluggy called tripwire first; its failure did not stop recorder's hub_connect.
        await eventually(lambda: plugin(served, "recorder").calls == [("connect", "alice")])
        assert any("'tripwire'" in record.getMessage() and "hub_connect" in record.getMessage()
                   and record.exc_info for record in caplog.records)
        # The client is still connected and served.
        reply = await alice.call("subscribe", {"topic": "trip:room"})
        assert reply["ok"] is True, reply
        assert alice.sio.connected
        # An async notice that raises is isolated too: recorder's hub_subscribe ran.
        assert ("subscribe", "trip:room") in plugin(served, "recorder").calls
        assert any("'tripwire'" in record.getMessage() and "hub_subscribe" in record.getMessage()
                   for record in caplog.records)
    finally:
        await alice.close()


async def test_a_failing_authorization_refuses_with_internal(served: ServedHub) -> None:
    alice = await connect(served, "alice")
    try:
        reply = await alice.call("subscribe", {"topic": "trip:boom"})
        assert reply["ok"] is False and reply["error"]["code"] == "internal", reply
        assert ("subscribe", "trip:boom") not in plugin(served, "recorder").calls
    finally:
        await alice.close()


async def test_a_hook_wrapper_sees_the_other_plugins_calls(served: ServedHub) -> None:
    seen = plugin(served, "watcher").seen
    # Set-up results reach a wrapper as contributions naming their plugin.
    assert ("hub_topic_kinds", ["hub.core", "recorder"]) in seen
    alice = await connect(served, "alice")
    try:
        # Two implementations returned: recorder's coroutine and tripwire's None (dropped by pluggy).
        await eventually(lambda: ("hub_connect", "alice", 1) in seen)
    finally:
        await alice.close()


async def test_pluggy_tracing_sees_plugin_hooks(served: ServedHub) -> None:
    traced: list[tuple[str, list[str]]] = []

    def before(hook_name: str, hook_impls: list[Any], kwargs: dict[str, Any]) -> None:
        traced.append((hook_name, sorted(impl.plugin_name for impl in hook_impls)))

    def after(outcome: Any, hook_name: str, hook_impls: list[Any], kwargs: dict[str, Any]) -> None:
        pass

    undo = served.app.hub.pm.add_hookcall_monitoring(before, after)
    try:
        bob = await connect(served, "bob")
        await eventually(lambda: any(name == "hub_connect" for name, _ in traced))
        await bob.call("subscribe", {"topic": "trip:room"})
        await bob.close()
    finally:
        undo()
    names = [name for name, _ in traced]
    assert "hub_connect" in names and "hub_subscribe" in names and "hub_authorize_subscribe" in names
    assert ("hub_connect", ["recorder", "tripwire", "watcher"]) in traced
