"""Services: one plugin provides a Python API, another uses it through its own Protocol.

The real-hub tests install fixture plugins (tests/support/hub_clock_*.py) the
way a distribution is installed, and talk to them over a real socket.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pluggy
import pytest

from hub import ServiceError, Services, Unavailable
from hub.testing import RunningHub, start_hub

from .support import plugin_site
from .test_plugins import connect, with_path  # noqa: F401  (connect: the welcomed-client fixture)

ROOT = Path(__file__).parent.parent


# Fixture module -> the plugin name (the entry point's) it is installed under.
CLOCK_PLUGINS = {"provider": "clock", "user": "clockuser", "rival": "rival"}


def clock_hub(tmp_path: Path, *fixtures: str, **env: str) -> RunningHub:
    """A hub with the clock fixture plugins (``provider``, ``user``, ``rival``) installed next to the built-ins."""
    sites = [
        plugin_site(tmp_path / f"site-{fixture}", f"hub_clock_{fixture}", CLOCK_PLUGINS[fixture]) for fixture in fixtures
    ]
    return start_hub(tmp_path / "hub", env={"PYTHONPATH": with_path(*sites), **env})


async def test_a_plugin_uses_another_plugins_service_through_its_protocol(tmp_path: Path, connect: Any) -> None:
    hub = clock_hub(tmp_path, "provider", "user")
    try:
        alice = await connect(hub, "alice")
        reply = await alice.call("clockuser.time", {"zone": "Europe/Paris"})
        assert reply == {"ok": True, "available": True, "time": "12:00", "zone": "Europe/Paris", "by": "clock"}
    finally:
        hub.stop()


async def test_without_the_provider_the_user_carries_on(tmp_path: Path, connect: Any) -> None:
    hub = clock_hub(tmp_path, "user")
    try:
        alice = await connect(hub, "alice")
        assert await alice.call("clockuser.time", {"zone": "UTC"}) == {"ok": True, "available": False}
    finally:
        hub.stop()


async def test_a_service_lacking_what_its_user_needs_fails_with_a_clear_error(tmp_path: Path, connect: Any) -> None:
    hub = clock_hub(tmp_path, "provider", "user", HUB_PLUGIN_CLOCK_SHAPE="broken")
    try:
        alice = await connect(hub, "alice")
        reply = await alice.call("clockuser.time", {"zone": "UTC"})
        assert reply["ok"] is False and reply["error"]["code"] == "internal"
        assert "lacks describe" not in reply["error"]["message"]  # no internals on the wire
        # The operator's log says what is wrong, naming both sides.
        assert "service 'clock' (BrokenClock, from plugin 'clock') does not match Clock: it lacks describe" in hub.log()
    finally:
        hub.stop()


def test_a_service_provided_twice_stops_the_start_naming_both_plugins(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError) as failed:
        clock_hub(tmp_path, "provider", "rival")
    message = str(failed.value)
    assert "service 'clock' is provided twice" in message
    assert "plugin 'clock'" in message and "plugin 'rival'" in message


# The registry on its own -------------------------------------------------------------


@runtime_checkable
class Greeter(Protocol):
    def greet(self, name: str) -> str: ...


class Plain(Protocol):
    def greet(self, name: str) -> str: ...


class English:
    def greet(self, name: str) -> str:
        return f"hello {name}"


def test_get_require_and_absent_services() -> None:
    services = Services()
    assert services.get("greeter", Greeter) is None
    with pytest.raises(Unavailable, match="'greeter' service is not available"):
        services.require("greeter", Greeter)
    with pytest.raises(Unavailable, match="^Say it yourself.$"):
        services.require("greeter", Greeter, "Say it yourself.")
    english = English()
    services.provide("greeter", english)
    assert services.get("greeter", Greeter) is english
    assert services.require("greeter", English).greet("kim") == "hello kim"  # the provider's own class works too
    assert "greeter" in services and list(services) == ["greeter"] and len(services) == 1
    assert services.provider("greeter") is None  # no plugin manager: the provider is not known


def test_a_protocol_that_cannot_be_checked_and_a_mismatch_are_named() -> None:
    services = Services()
    services.provide("greeter", English())
    with pytest.raises(ServiceError, match="decorate the Protocol with @typing.runtime_checkable"):
        services.get("greeter", Plain)
    services.provide("number", 42)
    with pytest.raises(ServiceError, match=r"service 'number' \(int, from an unknown caller\) does not match Greeter: it lacks greet"):
        services.get("number", Greeter)
    with pytest.raises(ServiceError, match="a non-empty string"):
        services.provide("", English())


def test_the_provider_is_the_plugin_whose_module_called_provide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two real modules registered as plugins under their names, each calling provide.
    package = tmp_path / "svc_fixture_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "inner.py").write_text("def offer(services, name):\n    services.provide(name, object())\n")
    (tmp_path / "svc_fixture_other.py").write_text("def offer(services, name):\n    services.provide(name, object())\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import svc_fixture_other
    import svc_fixture_pkg
    import svc_fixture_pkg.inner

    pm = pluggy.PluginManager("hub")
    pm.register(svc_fixture_pkg, name="first")
    pm.register(svc_fixture_other, name="second")
    services = Services(pm)
    svc_fixture_pkg.inner.offer(services, "thing")  # a module inside the plugin's package counts as the plugin
    assert services.provider("thing") == "first"
    with pytest.raises(ServiceError, match="service 'thing' is provided twice: by plugin 'first' and by plugin 'second'"):
        svc_fixture_other.offer(services, "thing")
    for name in ("svc_fixture_other", "svc_fixture_pkg", "svc_fixture_pkg.inner"):
        sys.modules.pop(name, None)


# mypy checks the users of a service against their own protocol ------------------------


def run_mypy(*targets: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mypy", reason="mypy is in the dev extra: pip install -e '.[dev]'")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--follow-imports=silent", *targets],
        cwd=cwd, capture_output=True, text=True, timeout=600,
    )


def test_mypy_checks_a_service_users_calls_against_its_protocol(tmp_path: Path) -> None:
    user = tmp_path / "clock_user.py"
    user.write_text(textwrap.dedent('''
        from __future__ import annotations
        from typing import Protocol, runtime_checkable
        from hub import Hub

        @runtime_checkable
        class Clock(Protocol):
            async def describe(self, zone: str) -> dict[str, str]: ...

        async def use(hub: Hub) -> None:
            clock = hub.services.get("clock", Clock)
            await clock.describe("UTC")          # may be None: refused
            if clock is not None:
                await clock.describe(42)         # wrong type: refused
                reply: int = await clock.describe("UTC")  # wrong result type: refused
                await clock.describe("UTC")      # fine
    '''))
    result = run_mypy(str(user))
    errors = [line for line in result.stdout.splitlines() if "error:" in line]
    assert len(errors) == 3, result.stdout + result.stderr
    assert 'Item "None" of "Clock | None" has no attribute "describe"' in errors[0]
    assert 'incompatible type "int"; expected "str"' in errors[1]
    assert "Incompatible types in assignment" in errors[2]


def test_the_built_in_plugins_service_users_type_check() -> None:
    result = run_mypy("plugins", "tests/plugins/notifications/hub_notify_caller.py", "tests/support/hub_clock_user.py")
    assert result.returncode == 0, result.stdout + result.stderr
