"""The plugin host, proven with real installed distributions and a real hub.

Each fixture plugin in tests/fixtures/ is pip-installed into its own temporary
directory, never into the venv, and reaches a hub only through that hub's
PYTHONPATH, so no plugin leaks into other tests. What is checked is what an
operator or a client sees: ``hub.welcome``, replies and events, HTTP answers,
``hub plugins`` output, and the exit status and message of ``hub serve``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.testing import RunningHub, SocketRecorder, free_port, start_hub

FIXTURES = Path(__file__).parent / "fixtures"
TIMEOUT = 10.0


# Installing the fixture distributions ------------------------------------------


@pytest.fixture(scope="session")
def install_plugin(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``install_plugin("echo")``: the directory holding tests/fixtures/hub-echo-plugin, installed.

    The source is copied first because setuptools builds in the source tree
    (``build/``, ``*.egg-info``), and each distribution gets its own target so
    that one bad plugin never breaks the tests of another.
    """
    installed: dict[str, Path] = {}

    def install(name: str) -> Path:
        if name not in installed:
            root = tmp_path_factory.mktemp(f"plugin-{name}")
            source = shutil.copytree(FIXTURES / f"hub-{name}-plugin", root / "src")
            target = root / "site"
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                 "--disable-pip-version-check", "--target", str(target), str(source)],
                check=True, capture_output=True, timeout=120,
            )
            installed[name] = target
        return installed[name]

    return install


def with_path(*sites: Path) -> str:
    """A PYTHONPATH putting ``sites`` first, keeping whatever the test run had."""
    parts = [str(site) for site in sites]
    if os.environ.get("PYTHONPATH"):
        parts.append(os.environ["PYTHONPATH"])
    return os.pathsep.join(parts)


def hub_env(tmp_path: Path, *sites: Path, **settings: str) -> dict[str, str]:
    """The environment of a ``python -m hub`` subprocess: no HUB_ variable of the test run leaks in."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    env.update(
        HUB_JWT_SECRET="test-secret-" + "x" * 32,
        HUB_DATA_DIR=str(tmp_path / "data"),
        HUB_DATABASE_URL=os.environ.get("HUB_TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
        HUB_LOG_LEVEL="warning",
        PYTHONPATH=with_path(*sites),
    )
    env.update(settings)
    return env


def run_hub_command(env: dict[str, str], *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    # A `serve` that wrongly starts never exits by itself: the timeout fails the test.
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def serve_args() -> list[str]:
    return ["serve", "--host", "127.0.0.1", "--port", str(free_port())]


# Hubs and clients ------------------------------------------------------------------


@pytest.fixture(scope="module")
def echo_hub(install_plugin: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """One hub with the echo plugin installed, shared by the tests that only read its state."""
    hub = start_hub(tmp_path_factory.mktemp("echo-hub"), env={"PYTHONPATH": with_path(install_plugin("echo"))})
    yield hub
    hub.stop()


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., Any]]:
    """``await connect(hub, "alice")``: a welcomed client, closed after the test."""
    clients: list[SocketRecorder] = []

    async def open_client(hub: RunningHub, user: str, roles: tuple[str, ...] = ()) -> SocketRecorder:
        client = SocketRecorder()
        clients.append(client)
        await client.connect(hub, hub.token(user, roles))
        await client.wait_for("hub.welcome")
        return client

    yield open_client
    for client in clients:
        await client.close()


async def ping(hub: RunningHub, user: str = "alice") -> dict[str, Any]:
    async with hub.http() as http:
        response = await http.get("/api/echo/ping", headers={"authorization": f"Bearer {hub.token(user)}"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def ping_until(hub: RunningHub, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Ping until ``done(body)``: server-side hooks (disconnect) run after the client has moved on."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        body = await ping(hub)
        if done(body):
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {TIMEOUT}s: {body}")
        await asyncio.sleep(0.05)


# Discovery and the plugin's features ---------------------------------------------


async def test_plugin_is_discovered_and_listed_in_the_welcome(echo_hub: RunningHub, connect: Any) -> None:
    alice = await connect(echo_hub, "alice")
    welcome = (await alice.wait_for("hub.welcome"))[0]
    assert "echo" in welcome["data"]["plugins"]
    # Only plugins are listed, not the core's own default hooks.
    assert not any(name.startswith("hub.") for name in welcome["data"]["plugins"])


async def test_topic_kind_gives_a_snapshot_and_carries_client_publishes(echo_hub: RunningHub, connect: Any) -> None:
    alice = await connect(echo_hub, "alice")
    bob = await connect(echo_hub, "bob")
    reply = await alice.call("subscribe", {"topic": "echo:lobby"})
    assert reply == {"ok": True, "topic": "echo:lobby", "seq": 0, "recovered": False,
                     "snapshot": {"greeting": "hello lobby"}}
    assert (await bob.call("subscribe", {"topic": "echo:lobby"}))["ok"] is True

    published = await alice.call("publish", {"topic": "echo:lobby", "type": "echo.said", "data": {"text": "hi"}})
    assert published["ok"] is True
    assert published["seq"] is None  # not durable: nothing stored, nothing numbered
    event = (await bob.wait_for("echo.said"))[0]
    assert event["topic"] == "echo:lobby"
    assert event["data"] == {"text": "hi"}
    assert event["id"] == published["id"]
    assert event["seq"] is None
    assert event["meta"]["sender"] == "alice"


async def test_authorize_subscribe_hook_narrows_a_kind(echo_hub: RunningHub, connect: Any) -> None:
    user = await connect(echo_hub, "carol")
    admin = await connect(echo_hub, "root", ("admin",))
    refused = await user.call("subscribe", {"topic": "echo:private-board"})
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden"
    assert (await admin.call("subscribe", {"topic": "echo:private-board"}))["ok"] is True
    assert (await user.call("subscribe", {"topic": "echo:public-board"}))["ok"] is True


async def test_plugin_request_replies_and_publishes_its_event(echo_hub: RunningHub, connect: Any) -> None:
    alice = await connect(echo_hub, "alice")
    bob = await connect(echo_hub, "bob")
    assert (await bob.call("subscribe", {"topic": "echo:shouting"}))["ok"] is True

    reply = await alice.call("echo.shout", {"key": "shouting", "text": "quiet please"})
    assert reply["ok"] is True
    assert reply["text"] == "QUIET PLEASE"
    event = (await bob.wait_for("echo.shouted"))[0]
    assert event["data"] == {"text": "QUIET PLEASE"}
    assert event["id"] == reply["id"]
    assert event["meta"]["sender"] == "alice"
    # alice did not subscribe, so the event is not hers.
    assert alice.of_type("echo.shouted") == []

    bad = await alice.call("echo.shout", {"key": "shouting"})
    assert bad["ok"] is False
    assert bad["error"]["code"] == "invalid_message"


async def test_plugin_route_is_mounted_under_its_name_and_authenticates(echo_hub: RunningHub) -> None:
    async with echo_hub.http() as http:
        refused = await http.get("/api/echo/ping")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "auth_required"
        bad_token = await http.get("/api/echo/ping", headers={"authorization": "Bearer not-a-jwt"})
        assert bad_token.status_code == 401
        assert bad_token.json()["error"]["code"] == "auth_invalid"
    body = await ping(echo_hub, "carol")
    assert body["plugin"] == "echo"
    assert body["user"] == "carol"
    assert body["greeting"] == "hello"  # hub_config_defaults
    assert body["counts"]["startup"] == 1


async def test_openapi_lists_the_plugin_route(echo_hub: RunningHub) -> None:
    async with echo_hub.http() as http:
        paths = (await http.get("/openapi.json")).json()["paths"]
    assert "/api/echo/ping" in paths
    assert paths["/api/echo/ping"]["get"]["summary"] == "Who you are, the echo greeting, and how often each hook ran."


async def test_unknown_plugin_request_is_refused(echo_hub: RunningHub, connect: Any) -> None:
    alice = await connect(echo_hub, "alice")
    reply = await alice.call("echo.whisper", {"key": "x", "text": "psst"})
    assert reply["ok"] is False
    assert reply["error"]["code"] == "invalid_message"


async def test_lifecycle_hooks_run(install_plugin: Callable[[str], Path], tmp_path: Path, connect: Any) -> None:
    shutdown_file = tmp_path / "echo-shutdown.json"
    hub = start_hub(
        tmp_path / "hub",
        env={"PYTHONPATH": with_path(install_plugin("echo")), "HUB_PLUGIN_ECHO_SHUTDOWN_FILE": str(shutdown_file)},
    )
    try:
        before = (await ping(hub))["counts"]
        assert before == {"startup": 1}  # hub_startup ran, once, before any connection

        alice = await connect(hub, "alice")
        await ping_until(hub, lambda body: body["counts"].get("connect") == 1)
        assert (await alice.call("subscribe", {"topic": "echo:a"}))["ok"] is True
        assert (await alice.call("subscribe", {"topic": "echo:b"}))["ok"] is True
        assert (await alice.call("unsubscribe", {"topic": "echo:a"}))["ok"] is True
        counts = (await ping(hub))["counts"]
        assert counts["subscribe"] == 2
        assert counts["unsubscribe"] == 1

        await alice.close()
        counts = (await ping_until(hub, lambda body: body["counts"].get("disconnect") == 1))["counts"]
        # hub_disconnect does not stand in for hub_unsubscribe of the topics still held.
        assert counts["unsubscribe"] == 1
    finally:
        hub.stop()
    # hub_shutdown ran on SIGTERM, after every other hook.
    assert shutdown_file.exists(), hub.log()
    recorded = json.loads(shutdown_file.read_text())
    assert recorded == {"startup": 1, "connect": 1, "subscribe": 2, "unsubscribe": 1, "disconnect": 1, "shutdown": 1}


# Configuration -------------------------------------------------------------------------


async def test_config_from_environment_overrides_the_default(
    install_plugin: Callable[[str], Path], tmp_path: Path, connect: Any
) -> None:
    hub = start_hub(
        tmp_path, env={"PYTHONPATH": with_path(install_plugin("echo")), "HUB_PLUGIN_ECHO_GREETING": "bonjour"}
    )
    try:
        assert (await ping(hub))["greeting"] == "bonjour"
        alice = await connect(hub, "alice")
        reply = await alice.call("subscribe", {"topic": "echo:paris"})
        assert reply["snapshot"] == {"greeting": "bonjour paris"}
    finally:
        hub.stop()


async def test_config_file_section_and_environment_precedence(
    install_plugin: Callable[[str], Path], tmp_path: Path
) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('[plugins.echo]\ngreeting = "hallo"\n')
    site = install_plugin("echo")
    hub = start_hub(tmp_path / "file", env={"PYTHONPATH": with_path(site), "HUB_CONFIG": str(config)})
    try:
        assert (await ping(hub))["greeting"] == "hallo"
    finally:
        hub.stop()
    hub = start_hub(
        tmp_path / "both",
        env={"PYTHONPATH": with_path(site), "HUB_CONFIG": str(config), "HUB_PLUGIN_ECHO_GREETING": "hej"},
    )
    try:
        assert (await ping(hub))["greeting"] == "hej"
    finally:
        hub.stop()


# Enabling and disabling ----------------------------------------------------------------


def plugins_listing(env: dict[str, str]) -> dict[str, list[str]]:
    """``hub plugins`` output as ``{name: [state, distribution, version, (value)]}``."""
    result = run_hub_command(env, "plugins")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()]
    return {row[0]: row[1:] for row in rows if len(row) >= 5}


def test_cli_lists_the_plugin_and_whether_it_is_enabled(install_plugin: Callable[[str], Path], tmp_path: Path) -> None:
    site = install_plugin("echo")
    listing = plugins_listing(hub_env(tmp_path, site))
    assert listing["echo"] == ["enabled", "hub-echo-plugin", "0.1.0", "(hub_echo:Echo)"]
    listing = plugins_listing(hub_env(tmp_path, site, HUB_PLUGINS="something_else"))
    assert listing["echo"][0] == "disabled"
    listing = plugins_listing(hub_env(tmp_path, site, HUB_PLUGINS="echo"))
    assert listing["echo"][0] == "enabled"


def test_config_file_list_enables_plugins(install_plugin: Callable[[str], Path], tmp_path: Path) -> None:
    site = install_plugin("echo")
    config = tmp_path / "hub.toml"
    config.write_text('plugins = ["something_else"]\n')
    assert plugins_listing(hub_env(tmp_path, site, HUB_CONFIG=str(config)))["echo"][0] == "disabled"
    config.write_text('plugins = ["echo"]\n')
    assert plugins_listing(hub_env(tmp_path, site, HUB_CONFIG=str(config)))["echo"][0] == "enabled"


def test_plugin_not_on_the_path_is_not_seen(install_plugin: Callable[[str], Path], tmp_path: Path) -> None:
    install_plugin("echo")
    # The fixture is installed in a temporary target only: the venv itself never sees it.
    assert "echo" not in plugins_listing(hub_env(tmp_path))


async def test_hub_plugins_enables_only_the_named_plugins(
    install_plugin: Callable[[str], Path], tmp_path: Path, connect: Any
) -> None:
    hub = start_hub(tmp_path, env={"PYTHONPATH": with_path(install_plugin("echo")), "HUB_PLUGINS": "echo"})
    try:
        alice = await connect(hub, "alice")
        assert (await alice.wait_for("hub.welcome"))[0]["data"]["plugins"] == ["echo"]
        assert (await alice.call("subscribe", {"topic": "echo:x"}))["ok"] is True
    finally:
        hub.stop()


async def test_a_disabled_plugin_adds_nothing(
    install_plugin: Callable[[str], Path], tmp_path: Path, connect: Any
) -> None:
    # HUB_PLUGINS set but empty enables no plugin at all (unset enables every one).
    hub = start_hub(tmp_path, env={"PYTHONPATH": with_path(install_plugin("echo")), "HUB_PLUGINS": ""})
    try:
        alice = await connect(hub, "alice")
        assert (await alice.wait_for("hub.welcome"))[0]["data"]["plugins"] == []
        reply = await alice.call("subscribe", {"topic": "echo:x"})
        assert reply["error"]["code"] == "unknown_topic"
        assert (await alice.call("echo.shout", {"key": "x", "text": "hi"}))["error"]["code"] == "invalid_message"
        async with hub.http() as http:
            assert (await http.get("/api/echo/ping", headers=hub.headers())).status_code == 404
            assert "/api/echo/ping" not in (await http.get("/openapi.json")).json()["paths"]
    finally:
        hub.stop()


def test_hub_plugins_naming_a_missing_plugin_stops_start_up(
    install_plugin: Callable[[str], Path], tmp_path: Path
) -> None:
    result = run_hub_command(hub_env(tmp_path, install_plugin("echo"), HUB_PLUGINS="echo,nosuch"), *serve_args())
    assert result.returncode != 0
    assert "nosuch" in result.stderr
    assert "Traceback" not in result.stderr


# Bad plugins stop the hub, naming the plugin ---------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("broken", ["plugin 'broken'", "failed to load", "hub_fixture_dependency_that_is_not_installed"]),
        ("misspelt", ["plugin 'misspelt'", "hub_strtup"]),
        ("clash", ["plugin 'clash'", "topic kind 'user'"]),
        ("asyncsetup", ["plugin 'asyncsetup'", "hub_requests", "not an awaitable"]),
    ],
)
def test_a_bad_plugin_stops_hub_serve(
    install_plugin: Callable[[str], Path], tmp_path: Path, fixture: str, expected: list[str]
) -> None:
    result = run_hub_command(hub_env(tmp_path, install_plugin(fixture)), *serve_args())
    assert result.returncode != 0, result.stderr
    for text in expected:
        assert text in result.stderr
    # One clear line for the operator, not a stack trace.
    assert "Traceback" not in result.stderr


# A plugin whose name has an underscore, found through a dist-info on sys.path -----------------


WORD_COUNT = '''
from hub import hookimpl


@hookimpl
def hub_config_defaults():
    return {"max_words": 100, "lang": "en"}
'''


def test_env_config_reaches_a_plugin_whose_name_has_an_underscore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A distribution as an installer leaves it (module + dist-info), loaded in-process:
    # only the configuration is checked here, so no server is needed.
    site = tmp_path / "site"
    (site / "word_count_fixture-0.1.dist-info").mkdir(parents=True)
    (site / "word_count_fixture-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: word-count-fixture\nVersion: 0.1\n"
    )
    (site / "word_count_fixture-0.1.dist-info" / "entry_points.txt").write_text(
        "[hub.plugins]\nword_count = hub_fixture_word_count\n"
    )
    (site / "hub_fixture_word_count.py").write_text(WORD_COUNT)
    monkeypatch.syspath_prepend(str(site))

    from hub.config import load_settings
    from hub.eventlog import open_event_log
    from hub.hub import Hub
    from hub.plugins import find_plugins, list_plugins

    assert [info.distribution for info in list_plugins(None) if info.name == "word_count"] == ["word-count-fixture"]
    settings = load_settings(
        environ={"HUB_JWT_SECRET": "s" * 32, "HUB_DATA_DIR": str(tmp_path), "HUB_PLUGIN_WORD_COUNT_MAX_WORDS": "5"}
    )
    try:
        hub = Hub(settings, find_plugins(["word_count"]), open_event_log("memory://"))
    finally:
        sys.modules.pop("hub_fixture_word_count", None)
    assert hub.plugins == ["word_count"]
    # HUB_PLUGIN_WORD_COUNT_MAX_WORDS: plugin word_count, key max_words (not plugin word, key count_max_words).
    assert dict(hub.plugin_config("word_count")) == {"max_words": "5", "lang": "en"}
