"""The plugin host: discovery through entry points, validation, and hook calls.

Plugins are found in the entry-point group ``hub.plugins``; the entry point's
name is the plugin's name. Loading happens in :func:`load_plugins`, never at
import time, so tests and tools choose what is loaded.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pluggy

from . import hookspecs
from .utils import await_me_maybe

ENTRY_POINT_GROUP = "hub.plugins"
PLUGIN_NAME = r"^[a-z][a-z0-9_]*$"
logger = logging.getLogger("hub.plugins")


class PluginError(RuntimeError):
    """A plugin could not be loaded or used; the message names it."""


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


def load_plugins(enabled: Iterable[str] | None, defaults: Iterable[tuple[str, object]] = ()) -> pluggy.PluginManager:
    """A plugin manager holding ``defaults`` and the enabled installed plugins.

    ``enabled`` None means every installed plugin. A name that is not
    installed, a plugin that fails to import, and a hook implementation whose
    name or arguments match no hook all raise :class:`PluginError` naming the plugin.
    """
    import re

    pm = pluggy.PluginManager("hub")
    pm.add_hookspecs(hookspecs)
    for name, plugin in defaults:
        # Registered first, so they run last: installed plugins win (Datasette's trylast idea).
        pm.register(plugin, name=name)
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
        try:
            pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginError(f"plugin {name!r} ({ep.value}) is not valid: {exc}") from exc
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        # exc.plugin is the module object; the operator knows the plugin by its entry-point name.
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise PluginError(f"plugin {name!r} is not valid: {exc}") from exc
    return pm


def plugin_names(pm: pluggy.PluginManager) -> list[str]:
    """Names of the loaded installed plugins (the core's defaults are not listed)."""
    return sorted(
        name for name, plugin in pm.list_name_plugin() if name is not None and not name.startswith("hub.")
    )


def call_each(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call a hook on every plugin, keeping who returned what: ``[(plugin, result)]``."""
    hook = getattr(pm.hook, hook_name)
    results = []
    for impl in reversed(hook.get_hookimpls()):
        args = {name: kwargs[name] for name in impl.argnames}
        try:
            result = impl.function(**args)
        except Exception as exc:
            raise PluginError(f"plugin {impl.plugin_name!r}: {hook_name} failed: {type(exc).__name__}: {exc}") from exc
        if inspect.isawaitable(result):
            # Set-up hooks run while the app is built, outside any event loop: an
            # `async def` one would be silently ignored, so it is refused instead.
            if inspect.iscoroutine(result):
                result.close()
            raise PluginError(f"plugin {impl.plugin_name!r}: {hook_name} must return its value, not an awaitable")
        if result is not None:
            results.append((impl.plugin_name, result))
    return results


async def acall_each(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Like :func:`call_each`, awaiting results that are awaitable.

    An exception is logged with the plugin's name and re-raised as :class:`PluginError`.
    """
    hook = getattr(pm.hook, hook_name)
    results = []
    for impl in reversed(hook.get_hookimpls()):
        args = {name: kwargs[name] for name in impl.argnames}
        try:
            result = await await_me_maybe(impl.function(**args))
        except Exception as exc:
            raise PluginError(f"plugin {impl.plugin_name!r}: {hook_name} failed: {type(exc).__name__}: {exc}") from exc
        if result is not None:
            results.append((impl.plugin_name, result))
    return results
