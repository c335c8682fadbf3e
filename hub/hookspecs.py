"""The hooks a plugin may implement.

A plugin is a module or a class registered under the entry-point group
``hub.plugins``; the entry point's name is the plugin's name. It implements
any of these functions (or methods: a class plugin is instantiated once per
hub, ``Plugin(hub)``, before any hook runs), decorated with ``@hookimpl``
(``from hub import hookimpl``). An implementation may take any subset of a
hook's arguments. The set-up hooks (``hub_config_defaults``,
``hub_topic_kinds``, ``hub_routes``, ``hub_requests``, ``hub_console_panels``,
and ``hub_migrations``, which also runs without a hub) run while the app is
built and return their value directly; the others may be ``async def`` and the
host awaits them. :data:`MODES` says how a failing implementation is handled.
See docs/plugins.md for a complete example.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import os

    from starlette.routing import BaseRoute

    from .config import Settings
    from .connection import Connection
    from .panels import ConsolePanel
    from .topics import TopicKind
    from .types import Hub, RequestHandler

hookspec = pluggy.HookspecMarker("hub")
hookimpl = pluggy.HookimplMarker("hub")

#: How the host treats an implementation that raises (hub.hookcalls), by hook:
#: ``notice`` hooks tell what happened: the failure is logged with the plugin's
#: name, and the client and the other plugins carry on; ``decision`` hooks fail
#: closed (the client gets ``internal``); ``start-up`` stops the start-up. A hook
#: not listed is a ``set-up`` hook: it runs while the app is built, returns its
#: value (not an awaitable), and a failure stops the start-up, naming the plugin.
MODES: dict[str, str] = {
    "hub_startup": "start-up",
    "hub_shutdown": "notice",
    "hub_connect": "notice",
    "hub_disconnect": "notice",
    "hub_subscribe": "notice",
    "hub_unsubscribe": "notice",
    "hub_authorize_subscribe": "decision",
}


@hookspec
def hub_config_defaults() -> dict[str, Any]:
    """The defaults of this plugin's configuration section.

    Called once when the hub starts. The values the operator set, in the
    config file's ``[plugins.<name>]`` table or as ``HUB_PLUGIN_<NAME>_<KEY>``
    variables, override these; the plugin reads the result with
    ``hub.plugin_config("<name>")``.
    """


@hookspec
def hub_topic_kinds(hub: Hub, settings: Settings) -> list[TopicKind]:
    """The topic kinds this plugin owns, each with its policies.

    Called once while the hub is built, before ``hub_startup`` and any
    connection. Policies and snapshots may keep ``hub`` (or, in a class plugin,
    ``self``) to reach state that ``hub_startup`` sets up. Registering a kind that
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
    """Called when the hub stops, after it stops accepting connections.

    Every plugin's implementation runs, even when another's fails.
    """


@hookspec
def hub_connect(hub: Hub, connection: Connection) -> None:
    """Called after a client authenticated and received ``hub.welcome``.

    An exception is logged with the plugin's name; the client stays connected
    and the other plugins' implementations still run (so for every notice hook).
    """


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
    ``None`` to have no objection; a raised ``HubError`` is the reply. Every
    plugin is asked, so an application plugin can narrow another plugin's kinds
    (for example, let only a chat's members join its ``presence:`` room). May be
    async. Any other exception refuses the subscription with ``internal``: it fails closed.
    """


@hookspec
def hub_subscribe(hub: Hub, connection: Connection, topic: str) -> None:
    """Called after a connection subscribed to ``topic`` (the policy allowed it)."""


@hookspec
def hub_unsubscribe(hub: Hub, connection: Connection, topic: str) -> None:
    """Called after a connection unsubscribed from ``topic`` with the ``unsubscribe`` request."""


@hookspec
def hub_migrations() -> str | os.PathLike[str]:
    """The directory of this plugin's Alembic revisions: a branch of its own.

    The branch is labelled with the plugin's name: its first revision has
    ``down_revision = None`` and ``branch_labels = ("<plugin>",)``, and revision
    ids start with the plugin's name (``"<plugin>_0001"``, at most 32
    characters). A revision that needs a core table declares
    ``depends_on = "<core revision>"``. Called without a running hub, by
    ``hub db upgrade`` and ``hub db current`` as well as at start-up, also for
    installed plugins that are not enabled: their revisions are known but not
    applied. See docs/plugins.md, "Tables and migrations".
    """


@hookspec
def hub_cli_commands() -> list[Any]:
    """``click`` commands this plugin adds to the ``hub`` command line, under ``hub <plugin> ...``.

    Called without a running hub (a class plugin's static or class method), when
    the command line looks for the command ``hub <plugin>``; only enabled plugins
    are asked. Returns a list of ``click.Command`` (groups too). A command that
    needs the hub's settings reads them with ``hub.config.load_settings()``.
    """


@hookspec
def hub_console_panels(hub: Hub) -> list[ConsolePanel]:
    """Cards this plugin adds to the web console: ``/`` (``page="demo"``) or ``/admin``.

    Called once when the app is built. Each :class:`~hub.ConsolePanel` brings
    an HTML fragment and, usually, a JavaScript module whose ``mount(ctx)`` the
    page calls after sign-in with the connected hub client, an ``api()`` helper
    and the signed-in user (docs/console.md). A panel id another plugin took
    stops the start-up with an error naming both.
    """
