"""The console's pages and routes over HTTP: the dev-token route, the admin stats, the served files, the panels.

The pages themselves run in a browser in ``tests/browser/``.
"""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from hub import ConsolePanel
from hub.testing import RunningHub, SocketRecorder, start_hub
from tests.support import serve_with_plugin


async def test_dev_token_only_in_development_mode(tmp_path: Path) -> None:
    production = start_hub(tmp_path / "prod")
    development = start_hub(tmp_path / "dev", {"HUB_DEV": "1"})
    try:
        async with production.http() as http:
            refused = await http.post("/api/dev/token", json={"user": "alice"})
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"

        async with development.http() as http:
            minted = await http.post("/api/dev/token", json={"user": "alice"})
            admin = await http.post("/api/dev/token", json={"user": "root", "admin": True})
            bad = await http.post("/api/dev/token", json={"user": "no spaces"})
        assert minted.status_code == 201 and bad.status_code == 400
        claims = jwt.decode(minted.json()["token"], development.secret, algorithms=["HS256"])
        assert claims["sub"] == "alice" and claims["roles"] == ["user"]
        assert jwt.decode(admin.json()["token"], development.secret, algorithms=["HS256"])["roles"] == ["user", "admin"]

        # The minted token is one the hub accepts.
        client = await SocketRecorder().connect(development, minted.json()["token"])
        try:
            welcome = (await client.wait_for("hub.welcome"))[0]
            assert welcome["data"]["user"] == "alice"
        finally:
            await client.close()
    finally:
        production.stop()
        development.stop()


async def test_admin_stats_counts_connections_topics_and_deliveries(hub_server: RunningHub) -> None:
    admin_headers = {"authorization": f"Bearer {hub_server.token('root', ['admin'])}"}
    async with hub_server.http() as http:
        assert (await http.get("/api/admin/stats")).status_code == 401
        user_headers = {"authorization": f"Bearer {hub_server.token('bob')}"}
        assert (await http.get("/api/admin/stats", headers=user_headers)).status_code == 403
        before = (await http.get("/api/admin/stats", headers=admin_headers)).json()

        clients = [await SocketRecorder().connect(hub_server, hub_server.token(user)) for user in ("ann", "ben")]
        try:
            for client in clients:
                await client.wait_for("hub.welcome")
                assert (await client.call("subscribe", {"topic": "presence:room-1"}))["ok"]
            await hub_server.publish("user:ann", "demo.ping", {"n": 1})
            await clients[0].wait_for("demo.ping")
            after = (await http.get("/api/admin/stats", headers=admin_headers)).json()
        finally:
            for client in clients:
                await client.close()

    assert after["counters"]["connections"] == before["counters"]["connections"] + 2
    assert {c["user"] for c in after["connections"]} >= {"ann", "ben"}
    topics = {t["topic"]: t["subscribers"] for t in after["topics"]}
    assert topics["presence:room-1"] == 2 and topics["user:ann"] == 1
    assert after["counters"]["events_published"] > before["counters"]["events_published"]
    # Two welcomes and the ping at least were written to connections.
    assert after["counters"]["deliveries"] >= before["counters"]["deliveries"] + 3
    assert after["uptime_seconds"] > 0


async def test_pages_and_assets_are_served_by_the_hub(hub_server: RunningHub) -> None:
    async with hub_server.http() as http:
        for path in ("/", "/admin"):
            page = await http.get(path)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            # Everything the page loads comes from the hub itself: no CDN.
            assert "https://" not in page.text and "http://" not in page.text
            for asset in ("/static/console/console.js", "/static/console/console.css"):
                assert asset in page.text
        for asset in ("console.js", "demo.js", "admin.js", "console.css"):
            assert (await http.get(f"/static/console/{asset}")).status_code == 200
        spec = (await http.get("/openapi.json")).json()
    assert "/api/admin/stats" in spec["paths"] and "/api/dev/token" in spec["paths"]
    assert "/" not in spec["paths"] and "/admin" not in spec["paths"]


async def test_each_enabled_plugin_brings_its_panel_and_the_core_none(tmp_path: Path) -> None:
    every = start_hub(tmp_path / "every")
    bare = start_hub(tmp_path / "bare", {"HUB_PLUGINS": ""})
    try:
        async with every.http() as http:
            demo = (await http.get("/")).text
            script = await http.get("/console/panels/presence/panel.js")
            fragment = await http.get("/console/panels/presence/panel.html")
        async with bare.http() as http:
            bare_demo = (await http.get("/")).text
            bare_admin = await http.get("/admin")
            missing = await http.get("/console/panels/presence/panel.js")
    finally:
        every.stop()
        bare.stop()

    cards = {"upload": "upload-form", "notifications": "notify-form", "presence": "room-form", "documents": "doc-form"}
    for panel, form in cards.items():
        assert f'data-panel="{panel}"' in demo and f'id="{form}"' in demo
        assert f'data-script="/console/panels/{panel}/panel.js"' in demo
        # Without the plugins, the core's page has none of their cards, and still its own.
        assert f'id="{form}"' not in bare_demo
    assert 'id="signin-form"' in bare_demo and 'id="event-feed"' in bare_demo
    assert bare_admin.status_code == 200 and 'id="connection-rows"' in bare_admin.text
    assert "<!-- hub:panels -->" not in demo + bare_demo + bare_admin.text
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "export function mount(ctx)" in script.text
    assert fragment.status_code == 200 and missing.status_code == 404


def test_a_panel_id_taken_twice_stops_start_up_naming_both_plugins(tmp_path: Path) -> None:
    result = serve_with_plugin(tmp_path, "hub_panelclash", "panelclash")
    assert result.returncode != 0
    assert "'presence'" in result.stderr and "'panelclash'" in result.stderr and "already taken" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_panel_is_refused_with_its_reason() -> None:
    with pytest.raises(ValueError, match="must match"):
        ConsolePanel(id="Has Spaces", title="x", html="")
    with pytest.raises(ValueError, match="page must be one of demo, admin"):
        ConsolePanel(id="x", title="x", html="", page="settings")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be a path on this hub"):
        ConsolePanel(id="x", title="x", html="", script="https://cdn.example/panel.js")
    with pytest.raises(ValueError, match="is not a file"):
        ConsolePanel(id="x", title="x", html="", script=Path("/nonexistent/panel.js"))
