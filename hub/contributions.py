"""What the plugins' set-up hooks contribute to a hub: configuration, topic kinds, requests.

Each function calls one hook through pluggy (:func:`hub.plugins.call_each`)
and checks what every plugin returned, naming the plugin when it is wrong.
The routes are collected by the app factory, which builds the HTTP side.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pluggy

from .plugins import PluginError, call_each

if TYPE_CHECKING:
    from .config import Settings
    from .topics import TopicRegistry
    from .types import Hub, RequestHandler

PLUGIN_REQUEST = r"^[a-z][a-z0-9_]*$"


def plugin_config(pm: pluggy.PluginManager, settings: Settings, plugins: list[str]) -> dict[str, dict[str, Any]]:
    """Every plugin's configuration section: its defaults, overridden by the operator's settings."""
    sections: dict[str, dict[str, Any]] = {}
    for plugin, defaults in call_each(pm, "hub_config_defaults"):
        sections[plugin] = dict(defaults)
    known = sorted(set(plugins) | set(sections), key=len, reverse=True)
    for section, values in settings.plugin_sections.items():
        for key, value in values.items():
            plugin, option = _section_owner(section, key, known)
            sections.setdefault(plugin, {})[option] = value
    return sections


def register_topic_kinds(pm: pluggy.PluginManager, hub: Hub, topics: TopicRegistry) -> None:
    """Register every plugin's topic kinds in ``topics``; a kind registered twice names both plugins."""
    results = call_each(pm, "hub_topic_kinds", hub=hub, settings=hub.settings)
    # The core's kinds first, so a plugin re-registering one (say `user`) is the one named
    # as the intruder, whatever order the hooks ran in.
    results.sort(key=lambda result: not result[0].startswith("hub."))
    for plugin, kinds in results:
        for kind in kinds:
            try:
                topics.register(kind, owner=f"plugin {plugin!r}")
            except ValueError as exc:
                raise PluginError(str(exc)) from None


def plugin_requests(pm: pluggy.PluginManager, hub: Hub) -> dict[str, RequestHandler]:
    """Every plugin's client requests, as ``<plugin>.<action>``."""
    handlers: dict[str, RequestHandler] = {}
    for plugin, table in call_each(pm, "hub_requests", hub=hub):
        prefix = plugin.removeprefix("hub.")
        for action, handler in table.items():
            if not re.match(PLUGIN_REQUEST, action):
                raise PluginError(f"plugin {plugin!r}: request name {action!r} must match {PLUGIN_REQUEST}")
            handlers[f"{prefix}.{action}"] = handler
    return handlers


def _section_owner(section: str, key: str, known: list[str]) -> tuple[str, str]:
    """The plugin and key a configured value belongs to.

    Without a file section naming it, ``HUB_PLUGIN_DOC_PROCESSING_MAX_PAGES``
    reaches the hub as section ``doc``, key ``processing_max_pages``: the config
    reader cannot know plugin names. The loaded plugins' names (``known``,
    longest first) settle it.
    """
    if section in known:
        return section, key
    joined = f"{section}_{key}"
    for name in known:
        if joined.startswith(name + "_") and len(joined) > len(name) + 1:
            return name, joined[len(name) + 1:]
    return section, key


__all__ = ["plugin_config", "plugin_requests", "register_topic_kinds"]
