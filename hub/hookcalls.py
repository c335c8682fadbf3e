"""How one plugin's hook implementations are called: isolated, and attributed to the plugin.

pluggy runs the implementations of a hook one after another and stops at the
first that raises; it drops ``None`` results and does not say who returned
what. So each plugin is registered through a shim (:func:`shim`): a module
whose hook functions wrap the plugin's (``functools.wraps`` keeps pluggy's
argument introspection and the ``@hookimpl`` options) and apply the hook's
mode from :data:`hub.hookspecs.MODES`:

- ``notice`` (``hub_connect``, ``hub_disconnect``, ``hub_subscribe``,
  ``hub_unsubscribe``, ``hub_shutdown``): an exception, raised or awaited, is
  logged with the plugin's name and swallowed; the other plugins still run.
- ``decision`` (``hub_authorize_subscribe``): a ``HubError`` is the plugin's
  answer; any other exception is logged and refuses with ``internal`` (fail closed).
- ``start-up`` (``hub_startup``): an exception stops the start-up, naming the plugin.
- ``set-up`` (every other hook): the result must not be awaitable; it is returned
  as a :class:`Contribution` naming the plugin; an exception stops the start-up.

Hook wrappers (``@hookimpl(wrapper=True)``) are registered as they are.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pluggy

from .errors import HubError, InternalError
from .hookspecs import MODES

logger = logging.getLogger("hub.plugins")


class PluginError(RuntimeError):
    """A plugin could not be loaded or used; the message names it."""


@dataclass(frozen=True)
class Contribution:
    """What one plugin's set-up hook returned (hook wrappers of set-up hooks see these)."""

    plugin: str
    value: Any


def shim(pm: pluggy.PluginManager, name: str, plugin: object) -> ModuleType:
    """A module holding ``plugin``'s hook implementations, each wrapped for its hook's mode."""
    module = ModuleType(f"hub-plugin:{name}")
    module.__hub_plugin__ = plugin  # type: ignore[attr-defined]
    for attr in dir(plugin):
        opts = pm.parse_hookimpl_opts(plugin, attr)
        if opts is None:
            continue
        if inspect.isclass(plugin) and not isinstance(inspect.getattr_static(plugin, attr), (staticmethod, classmethod)):
            continue  # an instance method, and no hub to make the instance (see register_plugins)
        function = getattr(plugin, attr)
        if opts.get("wrapper") or opts.get("hookwrapper"):
            setattr(module, attr, function)
        else:
            setattr(module, attr, _guarded(name, attr, function, MODES.get(attr, "set-up")))
    return module


def _guarded(plugin: str, hook: str, function: Callable[..., Any], mode: str) -> Callable[..., Any]:
    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            result = function(*args, **kwargs)
        except Exception as exc:
            return _failed(plugin, hook, mode, exc)
        if inspect.isawaitable(result):
            if mode == "set-up":
                # Set-up hooks run while the app is built, outside any event loop: an
                # `async def` one would be silently ignored, so it is refused instead.
                if inspect.iscoroutine(result):
                    result.close()
                raise PluginError(f"plugin {plugin!r}: {hook} must return its value, not an awaitable")
            return _awaited(plugin, hook, mode, result)
        if mode == "set-up" and result is not None:
            return Contribution(plugin, result)
        return result

    return call


async def _awaited(plugin: str, hook: str, mode: str, awaitable: Awaitable[Any]) -> Any:
    try:
        return await awaitable
    except Exception as exc:
        return _failed(plugin, hook, mode, exc)


def _failed(plugin: str, hook: str, mode: str, exc: Exception) -> None:
    if mode == "notice":
        logger.error("plugin %r: %s failed", plugin, hook, exc_info=exc)
        return None
    if mode == "decision":
        if isinstance(exc, HubError):
            raise exc
        logger.error("plugin %r: %s failed; refusing", plugin, hook, exc_info=exc)
        raise InternalError() from exc
    raise PluginError(f"plugin {plugin!r}: {hook} failed: {type(exc).__name__}: {exc}") from exc


async def settle(results: Iterable[Any]) -> list[Any]:
    """Await, in order, what a hook's implementations returned (each may be async).

    When one raises, the coroutines not reached yet are closed, so none is left unawaited.
    """
    values = []
    pending = iter(results)
    try:
        for result in pending:
            values.append(await result if inspect.isawaitable(result) else result)
    finally:
        for rest in pending:
            if inspect.iscoroutine(rest):
                rest.close()
    return values


__all__ = ["Contribution", "PluginError", "settle", "shim"]
