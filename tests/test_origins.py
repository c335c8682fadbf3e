"""Which browser Origins may connect, against a real running hub.

The Origin header is what a browser sends and a page cannot forge, so a test
client setting it stands in for a page on that origin. A refused origin is
turned away at the Engine.IO handshake (HTTP 400), before any token is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import socketio

from hub.auth import mint_token
from hub.testing import RunningHub, SocketRecorder, connect_refused, start_hub

# python-socketio's client waits for its pending long-poll when it disconnects;
# the server ends that poll only after ping interval + timeout, so keep them short.
FAST_PING = {"HUB_PING_INTERVAL": "0.5", "HUB_PING_TIMEOUT": "1"}
TRANSPORTS = ["websocket", "polling"]


async def assert_origin_accepted(hub: RunningHub, origin: str | None, transport: str, token: str | None = None) -> None:
    client = SocketRecorder()
    headers = {"Origin": origin} if origin else {}
    await client.connect(hub, token or hub.token("alice"), transport=transport, headers=headers)
    try:
        welcome = (await client.wait_for("hub.welcome"))[0]
        assert welcome["data"]["user"] == "alice"
    finally:
        await client.close()


async def assert_origin_refused(hub: RunningHub, origin: str, transport: str, token: str | None = None) -> None:
    # A valid token: the origin alone must be the reason for the refusal.
    # The client gets its own HTTP session: python-engineio's client closes a session
    # it owns before reading a refused handshake's reply, which then fails at random
    # and leaks the response.
    async with aiohttp.ClientSession() as session:
        client = SocketRecorder(http_session=session)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(hub, token or hub.token("alice"), transport=transport, headers={"Origin": origin})
    # Refused at the Engine.IO handshake, before Socket.IO's: no hub error object, no welcome.
    assert not isinstance(client.connect_error, dict), client.connect_error
    assert client.of_type("hub.welcome") == []


@pytest.fixture(scope="module")
def listed_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    running = start_hub(
        tmp_path_factory.mktemp("listed"), env={"HUB_ALLOWED_ORIGINS": "https://app.example", **FAST_PING}
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def default_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """A configured secret, no origin list: not development mode."""
    running = start_hub(tmp_path_factory.mktemp("default"), env=FAST_PING)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def dev_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """No secret and no key at all: the hub falls back to development mode."""
    running = start_hub(tmp_path_factory.mktemp("dev"), env={"HUB_JWT_SECRET": "", **FAST_PING})
    yield running
    running.stop()


def dev_token(hub: RunningHub, sub: str = "alice") -> str:
    # Development mode generates its secret and keeps it in the data directory.
    secret = (hub.data_dir / "dev-secret").read_text().strip()
    return mint_token(secret, sub)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_listed_origin_accepted_and_others_refused(listed_hub: RunningHub, transport: str) -> None:
    await assert_origin_accepted(listed_hub, "https://app.example", transport)
    await assert_origin_refused(listed_hub, "https://evil.example", transport)
    # Near misses are foreign origins too.
    await assert_origin_refused(listed_hub, "http://app.example", transport)
    await assert_origin_refused(listed_hub, "https://app.example.evil.example", transport)


async def test_client_without_an_origin_is_not_a_browser_and_is_accepted(listed_hub: RunningHub) -> None:
    await assert_origin_accepted(listed_hub, None, "websocket")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_without_a_list_only_the_hubs_own_origin_is_accepted(default_hub: RunningHub, transport: str) -> None:
    await assert_origin_accepted(default_hub, default_hub.url, transport)
    await assert_origin_refused(default_hub, "https://evil.example", transport)
    # Outside development mode, localhost on another port is a foreign origin.
    await assert_origin_refused(default_hub, "http://localhost:3000", transport)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_dev_mode_accepts_localhost_origins(dev_hub: RunningHub, transport: str) -> None:
    token = dev_token(dev_hub)
    await assert_origin_accepted(dev_hub, "http://localhost:3000", transport, token)
    await assert_origin_accepted(dev_hub, "http://127.0.0.1:5173", transport, token)
    await assert_origin_refused(dev_hub, "https://evil.example", transport, token)


async def test_dev_mode_still_requires_a_valid_token(dev_hub: RunningHub) -> None:
    error = await connect_refused(dev_hub, headers={"Origin": "http://localhost:3000"})
    assert isinstance(error, dict) and error["code"] == "auth_required", error
    wrong = mint_token("not-the-dev-secret-but-long-enough-to-sign", "alice", ttl=60)
    error = await connect_refused(dev_hub, token=wrong, headers={"Origin": "http://localhost:3000"})
    assert isinstance(error, dict) and error["code"] == "auth_invalid", error


async def test_star_allows_any_origin(tmp_path: Path) -> None:
    running = start_hub(tmp_path, env={"HUB_ALLOWED_ORIGINS": "*"})
    try:
        await assert_origin_accepted(running, "https://anywhere.example", "websocket")
    finally:
        running.stop()


async def test_http_cors_follows_the_same_list(listed_hub: RunningHub) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    async with listed_hub.http() as http:
        allowed = await http.options("/api/publish", headers={"Origin": "https://app.example", **preflight})
        refused = await http.options("/api/publish", headers={"Origin": "https://evil.example", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers.get("access-control-allow-origin") == "https://app.example"
    assert refused.headers.get("access-control-allow-origin") is None

