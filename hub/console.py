"""The web console: a live demo page at ``/``, an operator's page at ``/admin``, and their two routes.

The pages are plain HTML, CSS and JavaScript under ``static/console/``, served
by the hub itself (no build step, no CDN). They talk to the hub like any other
client: through ``/static/hub-client.js`` and the HTTP API. What the pages show
of the plugins comes from the plugins: each enabled plugin's panels
(``hub_console_panels``, see :mod:`hub.panels`) are put into the page when the
app is built. The console adds two routes of its own:

- ``POST /api/dev/token`` mints a token for a chosen user, so a person who has
  just started the hub can sign in. It exists only in development mode, and
  answers only loopback clients: anyone who can call it may become admin.
- ``GET /api/admin/stats`` (role admin): connections, topics with their
  subscribers in this process, counters and uptime, polled by ``/admin``.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pluggy
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from .api import JSONResponse, read_json
from .auth import ADMIN, mint_token
from .broker import instance_name
from .errors import Forbidden, InvalidMessage, NotFound, Unavailable
from .types import Hub
from .openapi import describe
from .panels import PluginPanel, asset_prefix, check_panels, render_page
from .plugins import PluginError, call_each

CONSOLE_DIR = Path(__file__).parent / "static" / "console"
USER_ID = re.compile(r"^[A-Za-z0-9_.@:-]{1,64}$")
DEV_TOKEN_TTL = 3600
#: Most connections listed by the stats route; the count is always exact.
MAX_LISTED_CONNECTIONS = 200


def _page(name: str, panels: list[PluginPanel], kind: str) -> Any:
    # Rendered once: the panels are fixed when the app is built, like the routes.
    body = render_page((CONSOLE_DIR / name).read_text(encoding="utf-8"), panels, kind)

    async def page(request: Request) -> Response:
        # no-cache: the console changes with the hub, and a stale page against a newer hub confuses.
        return HTMLResponse(body, headers={"cache-control": "no-cache"})

    page.__doc__ = f"The web console's {name} page."
    return page


def console_panels(hub: Hub, pm: pluggy.PluginManager) -> list[PluginPanel]:
    """Every enabled plugin's console panels (``pm``'s hooks), checked, in page order."""
    try:
        return check_panels(call_each(pm, "hub_console_panels", hub=hub))
    except ValueError as exc:
        raise PluginError(str(exc)) from exc


def _panel_assets(panels: list[PluginPanel]) -> list[Mount]:
    """The folders of the panels' script files, each at ``/console/panels/<id>/``."""
    return [
        Mount(asset_prefix(p.panel.id), app=StaticFiles(directory=p.panel.script.parent), name=f"panel-{p.panel.id}")
        for p in panels
        if isinstance(p.panel.script, Path)
    ]


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def console_routes(hub: Hub, pm: pluggy.PluginManager) -> list[BaseRoute]:
    """The console's pages with the plugins' panels, the panels' files, and the console's two API routes."""
    panels = console_panels(hub, pm)

    @describe(
        requestBody={
            "required": True,
            "content": {"application/json": {"schema": {"type": "object", "required": ["user"], "properties": {
                "user": {"type": "string"}, "name": {"type": "string"}, "admin": {"type": "boolean"},
            }}}},
        }
    )
    async def dev_token(request: Request) -> Response:
        """Mint a development token for a user (development mode and loopback clients only).

        Body: `user` (the `sub`), optional `name`, and `admin: true` for the admin role.
        Answers `404` outside development mode, `403` to a client that is not on this machine.
        """
        settings = hub.settings
        if not settings.dev:
            raise NotFound("Development tokens exist only in development mode (HUB_DEV).")
        if not _is_loopback(request):
            raise Forbidden("Development tokens are given to clients on this machine only.")
        if not settings.jwt_secret or "HS256" not in settings.jwt_algorithms:
            raise Unavailable("This hub does not verify HS256 tokens, so it cannot mint one.")
        body = await read_json(request, settings.max_message_bytes)
        user = body.get("user")
        if not isinstance(user, str) or not USER_ID.match(user):
            raise InvalidMessage("'user' must be 1 to 64 letters, digits or _.@:-")
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 100):
            raise InvalidMessage("'name' must be a short string.")
        admin = body.get("admin", False)
        if not isinstance(admin, bool):
            raise InvalidMessage("'admin' must be true or false.")
        claims: dict[str, Any] = {}
        if settings.jwt_audience:
            claims["aud"] = settings.jwt_audience
        if settings.jwt_issuer:
            claims["iss"] = settings.jwt_issuer
        roles = ["user", ADMIN] if admin else ["user"]
        token = mint_token(settings.jwt_secret, user, roles, name=name or user, ttl=DEV_TOKEN_TTL, **claims)
        return JSONResponse(
            {"token": token, "user": user, "roles": roles, "expires_at": int(time.time()) + DEV_TOKEN_TTL},
            status_code=201,
        )

    async def stats(request: Request) -> Response:
        """This hub process's live state (role admin): connections, topics, counters, uptime.

        Counters are totals since the process started; a reader derives rates from two readings.
        """
        await hub.authenticate(request, roles=(ADMIN,))
        return JSONResponse(collect_stats(hub))

    return [
        # Pages, not API: left out of the OpenAPI description.
        Route("/", _page("index.html", panels, "demo"), methods=["GET"], name="console", include_in_schema=False),
        Route("/admin", _page("admin.html", panels, "admin"), methods=["GET"], name="console_admin",
              include_in_schema=False),
        Route("/api/dev/token", dev_token, methods=["POST"], name="dev_token"),
        Route("/api/admin/stats", stats, methods=["GET"], name="admin_stats"),
        *_panel_assets(panels),
    ]


def collect_stats(hub: Hub) -> dict[str, Any]:
    """The body of ``GET /api/admin/stats``."""
    now = time.time()
    metrics = hub.metrics
    connections = sorted(hub.connections.values(), key=lambda c: c.connected_at)
    # Counted from the hub's own bookkeeping, not the socket manager's rooms: the
    # same on one process and with the Redis manager, and free of the per-sid rooms.
    subscribers: Counter[str] = Counter()
    for connection in connections:
        subscribers.update(connection.subscriptions)
    return {
        "instance": instance_name(hub.settings),
        "server_time": now,
        "started_at": metrics.started_at,
        "uptime_seconds": round(now - metrics.started_at, 3),
        "plugins": hub.plugins,
        "counters": {
            "connections": len(connections),
            "events_published": int(metrics.total(metrics.events)),
            "deliveries": int(metrics.total(metrics.deliveries)),
            "connects": int(metrics.total(metrics.connects)),
            "disconnects": int(metrics.total(metrics.disconnects)),
        },
        "connections": [
            {
                "id": c.id,
                "user": c.user,
                "roles": list(c.principal.roles),
                "origin": c.origin,
                "connected_at": c.connected_at,
                "subscriptions": len(c.subscriptions),
            }
            for c in connections[-MAX_LISTED_CONNECTIONS:]
        ],
        "topics": [
            {"topic": topic, "subscribers": count}
            for topic, count in sorted(subscribers.items(), key=lambda item: (-item[1], item[0]))
        ],
    }


__all__ = ["collect_stats", "console_panels", "console_routes"]
