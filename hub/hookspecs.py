"""The hooks a plugin may implement.

A plugin is a module (or object) registered under the entry-point group
``hub.plugins``; the entry point's name is the plugin's name. It implements
any of these functions, decorated with ``@hookimpl`` (``from hub import
hookimpl``). The set-up hooks (``hub_config_defaults``, ``hub_topic_kinds``,
``hub_routes``, ``hub_requests``) run while the app is built and return their
value directly; the others may be ``async def`` and the host awaits them.
See docs/plugins.md for a complete example.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from .config import Settings
    from .connection import Connection
    from .hub import Hub
    from .panels import ConsolePanel
    from .requests import RequestHandler
    from .topics import TopicKind

hookspec = pluggy.HookspecMarker("hub")
hookimpl = pluggy.HookimplMarker("hub")


@hookspec
def hub_config_defaults() -> dict[str, Any]:
    """The defaults of this plugin's configuration section.

    Called once when the hub starts. The values the operator set, in the
    config file's ``[plugins.<name>]`` table or as ``HUB_PLUGIN_<NAME>_<KEY>``
    variables, override these; the plugin reads the result with
    ``hub.plugin_config("<name>")``.
    """


@hookspec
def hub_topic_kinds(settings: Settings) -> list[TopicKind]:
    """The topic kinds this plugin owns, each with its policies.

    Called once at start-up, before any connection. Registering a kind that
    another plugin already registered stops the start-up with an error naming both.
    """


@hookspec
def hub_routes(hub: Hub) -> list[BaseRoute]:
    """Starlette routes of this plugin, mounted under ``/api/<plugin>/``.

    A route whose path starts with ``/api/`` is served at that path instead:
    for a route the wire contract names outside the prefix (``POST /api/uploads``).
    It may not take a path the core or another plugin already serves.
    Called once when the app is built. Endpoints authenticate with
    ``await hub.authenticate(request)``; a raised ``HubError`` becomes the
    contract's JSON error. An endpoint's docstring is its OpenAPI summary.
    """


@hookspec
def hub_requests(hub: Hub) -> dict[str, RequestHandler]:
    """Client requests of this plugin: ``{action: handler}``.

    Each becomes the socket event ``<plugin>.<action>``. A handler is
    ``async def handler(request: ClientRequest) -> dict | None``; what it
    returns is merged into ``{"ok": true, ...}``; a raised ``HubError`` becomes
    ``{"ok": false, "error": ...}``. Size and rate limits are applied before it runs.
    """


@hookspec
def hub_startup(hub: Hub) -> None:
    """Called once the hub's storage is ready, before it accepts connections.

    Start background tasks here with ``hub.start_task(...)``; the hub cancels
    them on shutdown.
    """


@hookspec
def hub_shutdown(hub: Hub) -> None:
    """Called when the hub stops, after it stops accepting connections."""


@hookspec
def hub_connect(hub: Hub, connection: Connection) -> None:
    """Called after a client authenticated and received ``hub.welcome``."""


@hookspec
def hub_disconnect(hub: Hub, connection: Connection) -> None:
    """Called after a client's connection closed, for whatever reason.

    ``connection.subscriptions`` still lists the topics it had; the hub
    does not call ``hub_unsubscribe`` for them.
    """


@hookspec
def hub_authorize_subscribe(hub: Hub, connection: Connection, topic: str) -> bool | None:
    """Called before a subscription that the topic kind's policy allowed; may refuse it.

    Return ``False`` to refuse (the client gets ``forbidden``), ``True`` or
    ``None`` to have no objection. Every plugin is asked, so an application
    plugin can narrow another plugin's kinds (for example, let only a chat's
    members join its ``presence:`` room). May be async.
    """


@hookspec
def hub_subscribe(hub: Hub, connection: Connection, topic: str) -> None:
    """Called after a connection subscribed to ``topic`` (the policy allowed it)."""


@hookspec
def hub_unsubscribe(hub: Hub, connection: Connection, topic: str) -> None:
    """Called after a connection unsubscribed from ``topic`` with the ``unsubscribe`` request."""


@hookspec
def hub_console_panels(hub: Hub) -> list[ConsolePanel]:
    """Cards this plugin adds to the web console: ``/`` (``page="demo"``) or ``/admin``.

    Called once when the app is built. Each :class:`~hub.ConsolePanel` brings
    an HTML fragment and, usually, a JavaScript module whose ``mount(ctx)`` the
    page calls after sign-in with the connected hub client, an ``api()`` helper
    and the signed-in user (docs/console.md). A panel id another plugin took
    stops the start-up with an error naming both.
    """
