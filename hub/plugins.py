"""The plugin host: discovery through entry points, validation, and registration.

Plugins are found in the entry-point group ``hub.plugins``; the entry point's
name is the plugin's name. Loading happens in :func:`find_plugins` and
:func:`load_plugins`, never at import time, so tests and tools choose what is loaded.

An entry point names a module of hook functions (stateless) or a class: the
host creates one instance per hub, ``Plugin(hub)``, before any hook runs, so
its ``@hookimpl`` methods keep that hub's state on ``self``.

Hooks are called the pluggy way, ``pm.hook.<name>(...)``, so hook wrappers,
``firstresult`` and ``pm.add_hookcall_monitoring`` work for plugins. Each
plugin is registered through a thin shim (:mod:`hub.hookcalls`) that isolates
its implementations and attributes what they return.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .hookcalls import Contribution, PluginError, shim

if TYPE_CHECKING:
    from .types import Hub

ENTRY_POINT_GROUP = "hub.plugins"
PLUGIN_NAME = r"^[a-z][a-z0-9_]*$"
logger = logging.getLogger("hub.plugins")


@dataclass(frozen=True)
class FoundPlugin:
    """A plugin found and imported, not yet registered: its name, where from, and the module or class."""

    name: str
    value: str
    plugin: object


@dataclass(frozen=True)
class PluginInfo:
    """One installed plugin, as ``hub plugins`` lists it."""

    name: str
    value: str
    distribution: str
    version: str
    enabled: bool


def installed_entry_points() -> list[importlib.metadata.EntryPoint]:
    return sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def list_plugins(enabled: Iterable[str] | None) -> list[PluginInfo]:
    """Every installed plugin, and whether the configuration enables it."""
    wanted = None if enabled is None else set(enabled)
    infos = []
    for ep in installed_entry_points():
        dist = ep.dist
        infos.append(
            PluginInfo(
                name=ep.name,
                value=ep.value,
                distribution=dist.metadata["Name"] if dist else "?",
                version=dist.version if dist else "?",
                enabled=wanted is None or ep.name in wanted,
            )
        )
    return infos


def find_plugins(enabled: Iterable[str] | None, defaults: Iterable[tuple[str, object]] = ()) -> list[FoundPlugin]:
    """``defaults``, then the enabled installed plugins, imported.

    ``enabled`` None means every installed plugin. A name that is not installed
    and a plugin that fails to import raise :class:`PluginError` naming it.
    """
    found = [FoundPlugin(name, "the core", plugin) for name, plugin in defaults]
    wanted = None if enabled is None else list(enabled)
    entry_points = {ep.name: ep for ep in installed_entry_points()}
    if wanted is not None:
        missing = [name for name in wanted if name not in entry_points]
        if missing:
            raise PluginError(
                f"HUB_PLUGINS names {', '.join(missing)}, but no installed plugin has that name "
                f"(installed: {', '.join(entry_points) or 'none'})"
            )
    for name, ep in entry_points.items():
        if wanted is not None and name not in wanted:
            continue
        if not re.match(PLUGIN_NAME, name):
            raise PluginError(f"plugin {name!r} ({ep.value}): the name must match {PLUGIN_NAME}")
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(f"plugin {name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}") from exc
        found.append(FoundPlugin(name, ep.value, plugin))
    return found


def register_plugins(found: Sequence[FoundPlugin], hub: Hub | None) -> pluggy.PluginManager:
    """A plugin manager holding ``found``; a class plugin is instantiated with ``hub`` first.

    Without a hub (a command such as ``hub db`` that runs no hub), a class
    plugin contributes only its static and class methods. A hook implementation
    whose name or arguments match no hook raises :class:`PluginError` naming the plugin.
    """
    pm = pluggy.PluginManager("hub")
    pm.add_hookspecs(hookspecs)
    for entry in found:
        plugin = entry.plugin
        if inspect.isclass(plugin) and hub is not None:
            factory: Any = plugin
            try:
                plugin = factory(hub)
            except Exception as exc:
                raise PluginError(
                    f"plugin {entry.name!r} ({entry.value}) failed to start: {type(exc).__name__}: {exc}"
                ) from exc
        try:
            # The defaults come first, so they run last: installed plugins win (Datasette's trylast idea).
            pm.register(shim(pm, entry.name, plugin), name=entry.name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginError(f"plugin {entry.name!r} ({entry.value}) is not valid: {exc}") from exc
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        # exc.plugin is the shim; the operator knows the plugin by its entry-point name.
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise PluginError(f"plugin {name!r} is not valid: {exc}") from exc
    return pm


def load_plugins(
    enabled: Iterable[str] | None, defaults: Iterable[tuple[str, object]] = (), hub: Hub | None = None
) -> pluggy.PluginManager:
    """:func:`find_plugins` and :func:`register_plugins` in one step."""
    return register_plugins(find_plugins(enabled, defaults), hub)


def plugin_names(pm: pluggy.PluginManager) -> list[str]:
    """Names of the loaded installed plugins (the core's defaults are not listed)."""
    return sorted(
        name for name, plugin in pm.list_name_plugin() if name is not None and not name.startswith("hub.")
    )


def plugin_object(pm: pluggy.PluginManager, name: str) -> object:
    """The module or the per-hub instance registered as ``name`` (not its shim)."""
    return getattr(pm.get_plugin(name), "__hub_plugin__", None)


def call_each(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call a set-up hook through pluggy; who returned what: ``[(plugin, result)]``.

    Results come in pluggy's call order. A result that is not a
    :class:`Contribution` (a hook wrapper replaced it) is the core's to refuse.
    """
    results = []
    for result in getattr(pm.hook, hook_name)(**kwargs):
        if not isinstance(result, Contribution):
            raise PluginError(f"{hook_name}: a hook wrapper returned {result!r} instead of a plugin's contribution")
        results.append((result.plugin, result.value))
    return results


__all__ = [
    "Contribution", "FoundPlugin", "PluginError", "PluginInfo", "call_each", "find_plugins", "list_plugins",
    "load_plugins", "plugin_names", "plugin_object", "register_plugins",
]
