"""socket.io-client 4.x under Node, and hub-client.js as the hub serves it, against a real hub.

Each test runs one script of ``tests/node`` as a subprocess, with the hub's URL
and tokens in its environment, and asserts on the JSON it prints. The scripts
need Node.js and the npm packages of ``tests/node`` (``scripts/setup-node.sh``
installs them); without them these tests skip, or fail when ``HUB_REQUIRE_NODE=1``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from hub.testing import RunningHub, start_hub

NODE_DIR = Path(__file__).parent / "node"
SCRIPT_TIMEOUT = 30.0
# The refresh test needs a notice that comes at once for a short token, and no
# leeway, so that an expired first token really is refused on reconnection. A
# short ping cycle ends the long-poll a departed polling client leaves pending,
# which otherwise holds up the hub's shutdown.
HUB_ENV = {
    "HUB_TOKEN_EXPIRING_NOTICE": "5",
    "HUB_JWT_LEEWAY": "0",
    "HUB_PING_INTERVAL": "1",
    "HUB_PING_TIMEOUT": "2",
}

pytestmark = pytest.mark.node


def _missing_node() -> str | None:
    node = shutil.which("node")
    if node is None:
        return "Node.js (`node`) is not installed"
    if not (NODE_DIR / "node_modules" / "socket.io-client" / "package.json").is_file():
        return "the npm packages of tests/node are not installed (run scripts/setup-node.sh)"
    return None


@pytest.fixture(scope="module")
def node() -> str:
    """The path of ``node``; skips (or fails, with HUB_REQUIRE_NODE=1) when the Node tests cannot run."""
    reason = _missing_node()
    if reason is not None:
        if os.environ.get("HUB_REQUIRE_NODE") == "1":
            pytest.fail(f"{reason}, and HUB_REQUIRE_NODE=1")
        pytest.skip(reason)
    return str(shutil.which("node"))


@pytest.fixture(scope="module")
def hub(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """One hub for the module: each test uses its own users, so they do not meet."""
    running = start_hub(tmp_path_factory.mktemp("node-hub"), HUB_ENV)
    yield running
    running.stop()


def run_script(node: str, hub: RunningHub, script: str, **env: str) -> dict[str, Any]:
    """Run ``tests/node/<script>`` against ``hub``; the JSON object it printed."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    environ.update(HUB_URL=hub.url, NODE_TEST_TIMEOUT_MS=str(int(SCRIPT_TIMEOUT * 1000 - 5000)), **env)
    completed = subprocess.run(
        [node, script], cwd=NODE_DIR, env=environ, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT
    )
    assert completed.returncode == 0, (
        f"{script} exited with {completed.returncode}\nstderr:\n{completed.stderr}\nhub log:\n{hub.log()}"
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def new_user(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def test_raw_socketio_client_handshakes(node: str, hub: RunningHub) -> None:
    user = new_user("ann")
    result = run_script(node, hub, "raw_handshake.mjs", HUB_TOKEN=hub.token(user, ["reader"]))

    for name, transport in [("websocket", "websocket"), ("polling", "polling"), ("auth_callback", "websocket")]:
        attempt = result[name]
        assert attempt.get("connect_error") is None, (name, attempt)
        assert attempt["transport"] == transport
        welcome = attempt["welcome"]
        assert welcome["type"] == "hub.welcome"
        assert welcome["topic"] == f"user:{user}"
        assert welcome["data"]["user"] == user
        assert welcome["data"]["roles"] == ["reader"]
        assert welcome["data"]["protocol"] == 1

    # A refused handshake: socket.io-client's `err.data` is the contract's {code, message}.
    for name, code in [
        ("no_token", "auth_required"),
        ("no_token_polling", "auth_required"),
        ("garbage_token", "auth_invalid"),
        ("query_token", "auth_invalid"),
    ]:
        error = result[name]["connect_error"]
        assert error is not None, (name, result[name])
        assert error["data"]["code"] == code, (name, error)
        assert error["data"]["message"] and error["message"] == error["data"]["message"]
    assert "query" in result["query_token"]["connect_error"]["message"]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_hub_client_inbox_errors_acks_and_reconnects(node: str, hub: RunningHub, transport: str) -> None:
    user, other = new_user("bea"), new_user("cid")
    result = run_script(
        node, hub, "hub_client.mjs",
        HUB_USER=user, HUB_TOKEN=hub.token(user), HUB_OTHER_USER=other,
        HUB_SERVICE_TOKEN=hub.token("svc", ["service"]), HUB_TRANSPORT=transport,
    )
    inbox = f"user:{user}"

    assert result["served"] == {"content_type": result["served"]["content_type"], "has_connect": True}
    assert "javascript" in result["served"]["content_type"]
    assert result["welcome"]["user"] == user
    assert result["transport"] == transport
    assert result["subscribe"] == {"topic": inbox, "seq": 0, "recovered": False}

    # Typed errors: a HubError with the contract's code and a message for people.
    errors = result["errors"]
    assert errors["other_inbox"]["code"] == "forbidden"
    assert errors["bad_topic"]["code"] == "invalid_topic"
    assert errors["unknown_kind"]["code"] == "unknown_topic"
    assert errors["client_publish_to_inbox"]["code"] == "forbidden"
    for error in errors.values():
        assert error["name"] == "HubError" and error["message"]

    e0, e1, e2, e3, e4 = (result[name] for name in ("e0", "e1", "e2", "e3", "e4"))
    assert [e0["seq"], e1["seq"], e2["seq"], e3["seq"], e4["seq"]] == [1, 2, 3, 4, 5]
    # e0's handler threw at first delivery and again at each reconnection's redelivery.
    assert result["handler_errors"] == ["handler failed on purpose"] * 3
    # Each event reached the handler exactly once, in order, with its data,
    # although e2 was sent twice after the reconnect (offline queue and backlog).
    assert [(event["id"], event["seq"], event["data"]) for event in result["seen"]] == [
        (e1["id"], 2, {"n": 1}), (e2["id"], 3, {"n": 2}), (e3["id"], 4, {"n": 3}),
    ]
    assert all(event["topic"] == inbox for event in result["seen"])

    # After each reconnect the client resubscribed with since = the last seq it had seen.
    assert result["resubscribed_manual"]["topic"] == inbox
    assert result["resubscribed_manual"]["since"] == 2
    assert result["resubscribed_manual"]["reply"]["recovered"] is True
    assert result["resubscribed_drop"]["since"] == 3
    assert {"topic": inbox, "since": 2} in result["resubscribe_payloads"]
    assert {"topic": inbox, "since": 3} in result["resubscribe_payloads"]
    assert result["last_seq"] == 4

    # e1 to e3 were acknowledged after their handler ran; e0, whose handler threw,
    # was not: a new connection's offline queue is e0 then e4.
    assert [(event["type"], event["id"]) for event in result["queued"]] == [
        ("test.fail", e0["id"]), ("test.hello", e4["id"]),
    ]


def test_hub_client_loaded_as_a_browser_script(node: str, hub: RunningHub) -> None:
    user = new_user("dan")
    result = run_script(node, hub, "browser_global.mjs", HUB_TOKEN=hub.token(user))
    assert result["defined"] is True
    assert result["welcome"]["user"] == user
    assert result["refused"] == {"name": "HubError", "code": "auth_invalid", "message": result["refused"]["message"]}


def test_hub_client_refreshes_an_expiring_token(node: str, hub: RunningHub) -> None:
    user = new_user("eve")
    first = hub.token(user, ttl=3)  # within the notice period (5 s) from the start
    first_exp = jwt.decode(first, options={"verify_signature": False})["exp"]
    result = run_script(
        node, hub, "hub_client_refresh.mjs",
        HUB_TOKEN=first, HUB_REFRESHED_TOKEN=hub.token(user, ttl=3600), HUB_FIRST_EXP=str(first_exp),
    )
    assert result["welcome"]["user"] == user
    assert "expires_at" in result["expiring"]
    assert result["get_token_calls"] == 1
    assert result["client_token_is_new"] is True
    assert result["refreshed"]["expires_at"] > result["expiring"]["expires_at"]
    # Past the first token's exp the connection lives on, and a reconnection is
    # accepted: the auth callback sent the refreshed token.
    assert result["connected_after_first_exp"] is True
    assert result["hub_errors"] == []
    assert result["refused"] == []
    assert result["second_welcome"]["user"] == user
